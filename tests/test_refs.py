from __future__ import annotations

import pytest

from lib import refs


@pytest.mark.parametrize(
    "ref",
    [
        "busybox",
        "busybox:1.36",
        "library/busybox:latest",
        "ghcr.io/mostlydev/cllama:v0.4.1",
        "127.0.0.1:5000/upstream/base:1",
        "localhost/x",
        "ghcr.io/mostlydev/cllama:v0.4.1@sha256:" + "a" * 64,
        "claw-local/fleet-web_server.1:latest",
        "a__b/c--d:T_1.x-y",
    ],
)
def test_valid(ref: str) -> None:
    assert refs.is_valid(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "x:tägg",
        "Busybox",
        "My/x",
        "a b",
        "x:",
        "x:-bad",
        ":tag",
        "a//b",
        "a..b",
        "x;rm -rf /",
        "x\n",
        "-x",
        "x@sha256:12",
    ],
)
def test_invalid(ref: str) -> None:
    assert not refs.is_valid(ref)


def test_parts() -> None:
    parsed = refs.parse("127.0.0.1:5000/upstream/base:1")
    assert parsed == refs.Ref("127.0.0.1:5000/upstream/base", "1", None)
    assert str(parsed) == "127.0.0.1:5000/upstream/base:1"
    assert refs.repository("openclaw:v1") == "openclaw"
    with pytest.raises(ValueError, match="not an image reference"):
        refs.repository("Bad")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Fleet-Web", "fleet-web"),
        ("a b!!c", "a-b-c"),
        ("_x_", "x"),
        ("a.-b", "a-b"),
        ("a__b", "a__b"),
        ("!!", ""),
    ],
)
def test_sanitize(text: str, name: str) -> None:
    assert refs.sanitize_name(text) == name
