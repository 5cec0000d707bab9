"""`claw build` planning: which FROMs name a runner, whose provenance, failing closed."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from lib import build, clawfile, docker, runners, target
from lib.errors import ClawError, InputError

TABLE = dict(runners.builtin())
OPENCLAW_ID = "sha256:" + "a" * 64


def job(source: str) -> build.Job:
    return build.Job("Clawfile", Path("Clawfile"), Path("."), None, clawfile.parse(source))


def written(source: str) -> list[tuple[int, str, str, bool]]:
    return [(u.stage, u.runner.alias, u.written, u.pinned) for u in build.uses(job(source), TABLE)]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("FROM openclaw\nCLAW_TYPE openclaw\n", [(0, "openclaw", "openclaw", False)]),
        ("FROM openclaw:latest\nCLAW_TYPE openclaw\n", [(0, "openclaw", "openclaw:latest", False)]),
        ("FROM openclaw:v0.4.0\nCLAW_TYPE openclaw\n", [(0, "openclaw", "openclaw:v0.4.0", True)]),
        (f"FROM openclaw@sha256:{'b' * 64}\nCLAW_TYPE openclaw\n", [(0, "openclaw", f"openclaw@sha256:{'b' * 64}", True)]),
        ("FROM node:22 AS b\nFROM --platform=linux/arm64 openclaw AS r\nCLAW_TYPE openclaw\n", [(1, "openclaw", "openclaw", False)]),
        ("FROM node:22 AS openclaw\nFROM openclaw\nCLAW_TYPE openclaw\n", []),  # an earlier stage, not the image
        ("FROM nanobot\nFROM openclaw\nCLAW_TYPE openclaw\n", [(1, "openclaw", "openclaw", False)]),  # another runner's alias is an image like any other
        ("FROM openclaw\nCLAW_TYPE mybot\n", []),
        ("FROM registry.example/openclaw\nCLAW_TYPE openclaw\n", []),
    ],
)  # fmt: skip
def test_which_froms_name_a_runner(source: str, found: list[tuple[int, str, str, bool]]) -> None:
    assert written(source) == found


def inspect_with(monkeypatch: pytest.MonkeyPatch, images: dict[str, docker.Image]) -> list[list[str]]:
    calls: list[list[str]] = []

    def inspect(refs: Iterable[str]) -> dict[str, docker.Image]:
        wanted = list(refs)
        calls.append(wanted)
        return {ref: images[ref] for ref in wanted if ref in images}

    monkeypatch.setattr(docker, "inspect_images", inspect)
    return calls


def test_resolve_uses_the_version_tag_and_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    latest = docker.Image(
        OPENCLAW_ID,
        ("openclaw:latest", "openclaw:v0.5.0", "openclaw:claw-refresh-1-1"),
        {"claw.base.recipe-sha": "sha256:abc"},
    )
    calls = inspect_with(monkeypatch, {"openclaw:latest": latest})
    uses = build.uses(job("FROM openclaw\nCLAW_TYPE openclaw\n"), TABLE) * 3
    bases = build.resolve(uses, "claw pull")
    assert len(calls) == 1
    base = bases["openclaw:latest"]
    assert base.labels() == {
        "claw.runner.driver": "openclaw",
        "claw.runner.built-against": "openclaw:v0.5.0",
        "claw.runner.image-id": OPENCLAW_ID,
        "claw.runner.recipe-sha": "sha256:abc",
        "org.opencontainers.image.base.name": "openclaw:v0.5.0",
    }


def test_resolve_lists_every_problem_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    inspect_with(monkeypatch, {"openclaw:latest": docker.Image("sha256:1", ("openclaw:latest",))})
    uses = build.uses(job("FROM openclaw AS a\nFROM openclaw:v0.4.0\nCLAW_TYPE openclaw\n"), TABLE)
    with pytest.raises(ClawError) as caught:
        build.resolve(uses, "claw pull -f pod.yml")
    assert caught.value.message == (
        "runner base not ready: openclaw:latest has no version tag (built by hand?); "
        "openclaw:v0.4.0 is not on this host (pinned in a FROM; claw pull installs the newest version)"
    )
    assert caught.value.hint == "run: claw pull -f pod.yml"


@pytest.mark.parametrize(
    ("name", "generated"),
    [("Clawfile", "Dockerfile.generated"), ("Clawfile.dev", "Dockerfile.dev.generated"), ("agent.claw", "agent.claw.generated")],
)  # fmt: skip
def test_generated_file_names(name: str, generated: str) -> None:
    assert build.generated_path(Path("agents") / name) == Path("agents") / generated


def test_tag_is_refused_for_a_pod_and_bare_has_nothing_to_build(tmp_path: Path) -> None:
    (tmp_path / "claw-pod.yml").write_text("services:\n  a:\n    image: x\n")
    with pytest.raises(InputError, match="-t names the image of one Clawfile"):
        build.jobs(target.Target("pod", tmp_path / "claw-pod.yml"), "x:1")
    with pytest.raises(InputError, match="nothing to build here"):
        build.jobs(target.Target("bare"), None)
    (tmp_path / "Clawfile").write_text("FROM x\nCLAW_TYPE openclaw\n")
    with pytest.raises(InputError, match="-t: not a valid image reference: 'Bad Tag'"):
        build.jobs(target.Target("clawfile", tmp_path / "Clawfile"), "Bad Tag")


def test_write_atomically_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile.generated"
    path.write_text("old\n")
    build.write_atomically(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile.generated"]
