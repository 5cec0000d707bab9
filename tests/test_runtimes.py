"""Upstream's runtime against the FROM image's (SPEC §12.4), on real declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib import config, runners, runtimes

OPENCLAW = "node >=24.16.0 <25 || >=26.1.0"  # openclaw 2026.9.6's engines.node


@pytest.mark.parametrize(
    ("declared", "version", "ok"),
    [
        (OPENCLAW, "22.21.1", False),
        (OPENCLAW, "24.16.0", True),
        (OPENCLAW, "24.15.9", False),
        (OPENCLAW, "25.0.0", False),
        (OPENCLAW, "26.1.0", True),
        ("node >=22.0.0", "22.21.1", True),  # @anthropic-ai/claude-code 2.1.x
        ("node >=22.0.0", "20.19.0", False),
        ("python >=3.11", "3.10.14", False),  # nanobot-ai 0.3.5's requires_python
        ("python >=3.11", "3.12.7", True),
        ("python >=3.11,!=3.12.*", "3.12.7", False),
        ("python >=3.11", "3.14.0rc2", True),  # a pre-release image is what it carries
    ],
)
def test_a_range_is_read_as_its_registry_reads_it(declared: str, version: str, ok: bool) -> None:
    need = runtimes.Need.parse("x 1.0", declared)
    assert need is not None
    assert runtimes.satisfies(need, version) is ok


@pytest.mark.parametrize(
    ("declared", "version"),
    [("node not a range", "22.0.0"), ("python >=three", "3.12.1"), ("python >=3.11", "latest")],
)
def test_what_cannot_be_read_is_unknown_and_says_nothing(declared: str, version: str) -> None:
    need = runtimes.Need.parse("x 1.0", declared)
    assert need is not None
    assert runtimes.satisfies(need, version) is None
    env = {"node:x": [f"NODE_VERSION={version}", f"PYTHON_VERSION={version}"]}
    assert runtimes.conflicts([need], env) == []


def test_only_images_that_carry_the_runtime_are_checked() -> None:
    needs = [runtimes.Need("npm:openclaw 2026.9.6", "node", OPENCLAW.removeprefix("node "))]
    images = {
        "node:22-slim": ["PATH=/usr/local/bin", "NODE_VERSION=22.21.1", "YARN_VERSION=1.22.22"],
        "docker:27-cli": ["PATH=/usr/local/bin"],
        "python:3.12": ["PYTHON_VERSION=3.12.7"],
    }
    assert runtimes.conflicts(needs, images) == [
        "npm:openclaw 2026.9.6 needs node >=24.16.0 <25 || >=26.1.0; node:22-slim has node 22.21.1"
    ]
    assert runtimes.carried(images["python:3.12"]) == {"python": "3.12.7"}


@pytest.mark.parametrize("text", ["", "node", "ruby >=3", "node  "])
def test_an_answer_that_declares_nothing_known_needs_nothing(text: str) -> None:
    assert runtimes.Need.parse("x 1.0", text) is None


def test_a_runner_can_be_told_not_to_check(tmp_path: Path) -> None:
    path = tmp_path / "claw.toml"
    path.write_text("[runners.openclaw]\nruntime_check = false\n")
    assert runners.table(config.load(str(path)))["openclaw"].runtime_check is False
    assert runners.builtin()["openclaw"].runtime_check is True
    path.write_text('[runners.openclaw]\nruntime_check = "no"\n')
    with pytest.raises(config.InputError, match=r"runners\.openclaw\.runtime_check: expected true or false"):
        config.load(str(path))
