from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib import refs, versions


@pytest.mark.parametrize(
    ("output", "tag"),
    [
        ("0.5.2", "v0.5.2"),
        ("v0.5.2\n", "v0.5.2"),
        ("OpenClaw 2026.5.22 (3f2a9c1)", "v2026.5.22"),
        ("nanobot version 1.2.3-rc.1", "v1.2.3-rc.1"),
        ("1.2.3+build.7", "v1.2.3-build.7"),
        ("1.2.3-rc.1+g3f2a", "v1.2.3-rc.1-g3f2a"),
        ("Python 3.12.1 / tool 0.4.0", "v3.12.1"),
        ("python3.12 says 0.4.0", "v0.4.0"),
        ("1.2.3;rm -rf /", "v1.2.3"),
        ("1.2.3-$(reboot)", "v1.2.3"),
        ("1.2.3-`id`", "v1.2.3"),
        ("2.0.", "v2.0"),
        ("warning: x\n  release: V4.5 ", "v4.5"),
        ("no version here", None),
        ("build 3f2a9c1", None),
        ("version 7", None),
        ("", None),
        ("1." + "1" * 200, None),
        # PEP 440 suffixes are kept: a release candidate and its release never share a tag
        ("0.4.0rc1", "v0.4.0rc1"),
        ("nanobot 0.1.4.post3", "v0.1.4.post3"),
        ("1.0a2", "v1.0a2"),
        ("2.0.dev5", "v2.0.dev5"),
        ("0.1.4.post3.dev1", "v0.1.4.post3.dev1"),
    ],
)
def test_version_tag(output: str, tag: str | None) -> None:
    assert versions.version_tag(output) == tag


@given(st.text())
def test_any_probe_output_gives_a_clean_tag_or_none(output: str) -> None:
    tag = versions.version_tag(output)
    if tag is not None:
        assert len(tag) <= 128
        assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in tag)
        assert refs.is_valid(f"openclaw:{tag}")
        assert tag.startswith("v")


def test_fallback_tag() -> None:
    when = datetime.datetime(2026, 5, 22, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    assert versions.fallback_tag("sha256:3f2a9c1d0b7e55aa", when) == "built-20260523-3f2a9c1d0b7e"
    assert refs.is_valid("picoclaw:" + versions.fallback_tag("sha256:" + "a" * 64))


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["openclaw:latest", "openclaw:v0.5.0"], "v0.5.0"),
        (["openclaw:v0.9.9", "openclaw:v0.10.0", "openclaw:latest"], "v0.10.0"),
        (["openclaw:v1.0.0-rc.1", "openclaw:v1.0.0"], "v1.0.0"),
        (["openclaw:v1.0.0-rc.2", "openclaw:v1.0.0-rc.10"], "v1.0.0-rc.10"),
        (["picoclaw:built-20260101-aaaaaaaaaaaa", "picoclaw:built-20260522-bbbbbbbbbbbb"], None),
        (["openclaw:built-20260522-bbbbbbbbbbbb", "openclaw:latest"], "built-20260522-bbbbbbbbbbbb"),
        (["openclaw:v0.5.0", "openclaw:built-20260522-bbbbbbbbbbbb"], "v0.5.0"),
        (["openclaw:latest"], None),
        (["openclaw:claw-refresh-12-345", "openclaw:latest"], None),
        (["other:v9.9.9", "openclaw:latest"], None),
        (["registry.example/openclaw:v1.0", "openclaw:latest"], None),
        (["openclaw:version-one"], None),
        (["openclaw:v0.4.0rc1", "openclaw:v0.4.0"], "v0.4.0"),
        (["openclaw:v0.1.4", "openclaw:v0.1.4.post3"], "v0.1.4.post3"),
    ],
)
def test_resolve(tags: list[str], expected: str | None) -> None:
    assert versions.tag_of("openclaw", tags) == expected


def test_resolve_other_alias() -> None:
    tags = ["picoclaw:built-20260101-aaaaaaaaaaaa", "picoclaw:built-20260522-bbbbbbbbbbbb"]
    assert versions.tag_of("picoclaw", tags) == "built-20260522-bbbbbbbbbbbb"
