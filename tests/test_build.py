"""`claw build` planning: which FROMs name a runner, whose provenance, failing closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib import clawfile, runners, target
from lib.engine.docker import Image
from lib.errors import ClawError, InputError
from lib.files import write_atomically
from lib.verbs import build
from tests.harness.model import Model

TABLE = dict(runners.builtin())
OPENCLAW_ID = "sha256:" + "a" * 64


def written(source: str) -> list[tuple[int, str, str, bool]]:
    return [
        (u.stage, u.runner.alias, u.written, u.pinned) for u in runners.uses(clawfile.parse(source), TABLE)
    ]


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
        ("FROM openclaw\nCLAW_TYPE hermes\n", []),  # hermes: no runner base
        ("FROM registry.example/openclaw\nCLAW_TYPE openclaw\n", []),
    ],
)  # fmt: skip
def test_which_froms_name_a_runner(source: str, found: list[tuple[int, str, str, bool]]) -> None:
    assert written(source) == found


def uses_of(source: str) -> list[runners.Use]:
    return runners.uses(clawfile.parse(source), TABLE)


def test_resolve_uses_the_version_tag_and_one_call() -> None:
    latest = Image(
        OPENCLAW_ID,
        ("openclaw:latest", "openclaw:v0.5.0", "openclaw:claw-refresh-1-1"),
        {"claw.base.recipe-sha": "sha256:abc"},
    )
    host = Model({"openclaw:latest": latest})
    uses = uses_of("FROM openclaw\nCLAW_TYPE openclaw\n") * 3
    bases = runners.bases_of(host, uses, "claw pull")
    assert len(host.inspected) == 1
    assert host.listings == []
    base = bases["openclaw:latest"]
    assert base.labels() == {
        "claw.runner.driver": "openclaw",
        "claw.runner.built-against": "openclaw:v0.5.0",
        "claw.runner.image-id": OPENCLAW_ID,
        "claw.runner.recipe-sha": "sha256:abc",
        "org.opencontainers.image.base.name": "openclaw:v0.5.0",
        "org.opencontainers.image.base.digest": "",
    }


def test_resolve_lists_every_problem_and_the_fix() -> None:
    host = Model({"openclaw:latest": Image(OPENCLAW_ID, ("openclaw:latest", "openclaw:claw-refresh-1-1"))})
    uses = uses_of("FROM openclaw AS a\nFROM openclaw:v0.4.0\nCLAW_TYPE openclaw\n")
    with pytest.raises(ClawError) as caught:
        runners.bases_of(host, uses, "claw pull -f pod.yml")
    assert caught.value.message == (
        "runner base not ready: openclaw:latest has no version tag (built by hand?); "
        "openclaw:v0.4.0 is not on this host (versions here: none)"
    )
    assert caught.value.hint == "run: claw pull -f pod.yml"  # the floating base is fixed by a pull
    assert host.listings == [["openclaw"]]


PIN_FIX = (
    "fix: write FROM <alias> without a version (claw pins it to the version on this host "
    "at build time), or pin a version that is here; claw pull installs only the newest"
)


def test_a_pinned_version_not_here_names_the_versions_here_and_the_fix() -> None:
    host = Model()
    host.add("openclaw:v0.5.0")  # older than the image latest names
    host.add("openclaw:v0.10.0", "openclaw:latest", "openclaw:claw-refresh-1-1", image_id=OPENCLAW_ID)
    uses = uses_of("FROM openclaw:v0.4.0\nCLAW_TYPE openclaw\n")
    with pytest.raises(ClawError) as caught:
        runners.bases_of(host, uses, "claw pull")
    assert caught.value.message == (
        "runner base not ready: openclaw:v0.4.0 is not on this host (versions here: v0.10.0, v0.5.0)"
    )
    assert caught.value.hint == PIN_FIX  # claw pull would not bring it
    assert host.listings == [["openclaw"]]


@pytest.mark.parametrize(
    ("name", "context", "generated"),
    [("Clawfile", "", "Dockerfile.generated"), ("Clawfile.dev", "", "Dockerfile.dev.generated"), ("agent.claw", "", "agent.claw.generated"),
     ("Clawfile", "host-b", "Dockerfile.host-b.generated"), ("Clawfile.dev", "b", "Dockerfile.dev.b.generated")],
)  # fmt: skip
def test_generated_file_names(name: str, context: str, generated: str) -> None:
    assert build.generated_path(Path("agents") / name, context) == Path("agents") / generated


def test_tag_is_refused_for_a_pod_and_bare_has_nothing_to_build(tmp_path: Path) -> None:
    (tmp_path / "claw-pod.yml").write_text("services:\n  a:\n    image: x\n")
    with pytest.raises(InputError, match="-t names the image of one Clawfile"):
        build.jobs(target.target_of(None, str(tmp_path / "claw-pod.yml"), tmp_path), "x:1")
    with pytest.raises(InputError, match="nothing to build here"):
        build.jobs(target.BareTarget(), None)
    (tmp_path / "Clawfile").write_text("FROM x\nCLAW_TYPE openclaw\n")
    with pytest.raises(InputError, match="-t: not a valid image reference: 'Bad Tag'"):
        build.jobs(target.read_clawfile(tmp_path / "Clawfile"), "Bad Tag")


def test_write_atomically_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile.generated"
    path.write_text("old\n")
    write_atomically(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile.generated"]
