"""Several engines from one command (SPEC §11), through the CLI against the stand-in
docker: naming contexts, an unknown one, each engine's lines under its name, one
engine failing alone, the grouped JSON, and up's all-or-nothing start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import claw
from lib import config, infra, runners
from lib.options import context_names
from tests.harness.fake_docker import FakeDocker

ROOT = Path(__file__).resolve().parents[1]
ALIASES = list(dict.fromkeys(runner.alias for runner in runners.table(config.Config()).values()))
UNREACHABLE = "Cannot connect to the Docker daemon at ssh://root@host-b. Is the docker daemon running?\n"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory (a bare target) with a config of its own."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "claw.toml").write_text("")
    monkeypatch.setenv("CLAW_CONFIG", str(work / "claw.toml"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("CLAW_CONTEXTS", raising=False)
    return work


def infra_refs() -> list[str]:
    return list(infra.pinned(config.Config().infra).values())


def inspect_lines(refs: list[str]) -> str:
    return "".join(
        json.dumps({"Id": f"sha256:{n:064x}", "RepoTags": [ref], "Config": {"Labels": {}}}) + "\n"
        for n, ref in enumerate(refs, 1)
    )


def inspect_answer(found: list[str], missing: list[str]) -> dict[str, Any]:
    """``docker image inspect``: the found refs' JSON, an error line per missing one."""
    stderr = "".join(f"Error: No such image: {ref}\n" for ref in missing)
    return {"stdout": inspect_lines(found), "stderr": stderr, "code": 1 if missing else 0}


def knows(fake: FakeDocker, *names: str) -> None:
    fake.answer(["context", "ls"], stdout="".join(f"{n}\n" for n in ("default", *names)))


@pytest.mark.parametrize(
    ("given", "names"),
    [
        (["host-a,host-b"], ("host-a", "host-b")),
        (["host-a", "host-b", "host-a"], ("host-a", "host-b")),
        (["host-a, host-b host-c"], ("host-a", "host-b", "host-c")),
        ([" , "], ()),
    ],
)
def test_context_names_split_on_commas_and_spaces_in_order_once(
    given: list[str], names: tuple[str, ...]
) -> None:
    assert context_names(given) == names


def test_an_unknown_context_is_bad_input_naming_the_known_ones(
    fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    knows(fake, "host-a")
    assert claw.main(["--context", "host-a,hostb", "pull", "--no-runners"]) == 2
    err = capsys.readouterr().err
    assert "--context: no docker context 'hostb' (known: default, host-a)" in err
    assert "docker context create" in err
    assert fake.args == [["context", "ls", "--format", "{{.Name}}"]], "nothing else was asked"


def test_pull_on_two_engines_names_each_line_and_one_unreachable_engine_fails_alone(
    fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    knows(fake, "host-a", "host-b")
    refs = infra_refs()
    fake.answer(["--context", "host-a", "image", "inspect"], stdout=inspect_lines(refs))
    fake.answer(["--context", "host-b", "image", "inspect"], stderr=UNREACHABLE, code=1)
    assert claw.main(["pull", "--no-runners", "--context", "host-a", "--context", "host-b"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[: len(refs)] == [f"[host-a] {name}: present {ref}" for name, ref in zip(
        infra.pinned(config.Config().infra), refs, strict=True)]  # fmt: skip
    assert lines[len(refs)] == "[host-a] ok"
    assert lines[len(refs) + 1].startswith("[host-b] failed: cannot reach the Docker engine (context host-b)")
    assert "error: 1 of 2 engines did not succeed: host-b" in err
    asked = {tuple(call[:2]) for call in fake.args[1:]}
    assert asked == {("--context", "host-a"), ("--context", "host-b")}, "every call names its engine"


def test_pull_json_groups_by_engine(fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    knows(fake, "host-a", "host-b")
    refs = infra_refs()
    fake.answer(["--context", "host-a", "image", "inspect"], stdout=inspect_lines(refs))
    fake.answer(["--context", "host-b", "image", "inspect"], stderr=UNREACHABLE, code=1)
    assert claw.main(["pull", "--no-runners", "--json", "--context", "host-a,host-b"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert document["error"]["exit"] == 1
    first, second = document["engines"]
    assert (first["context"], first["ok"], second["context"], second["ok"]) == (
        "host-a",
        True,
        "host-b",
        False,
    )
    assert [a["status"] for a in first["actions"]] == ["present"] * len(refs)
    assert second["error"]["message"].startswith("cannot reach the Docker engine (context host-b)")
    assert "actions" not in document


def test_one_context_carries_the_flag_and_keeps_the_plain_output(
    fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    knows(fake, "host-a")
    refs = infra_refs()
    fake.answer(["--context", "host-a", "image", "inspect"], stdout=inspect_lines(refs))
    monkeypatch.setenv("CLAW_CONTEXTS", "host-a")
    assert claw.main(["pull", "--no-runners"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("cllama: present ")
    assert "[host-a]" not in out


def test_one_context_that_is_not_ready_fails_with_its_own_error(
    fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "claw-pod.yml").write_text("services:\n  web:\n    image: busybox:1\n")
    aliases = [f"{alias}:latest" for alias in ALIASES]
    for argv in (["up", "--check"], ["up", "--check", "--json"]):
        knows(fake, "host-b")
        fake.answer(
            ["--context", "host-b", "image", "inspect"], **inspect_answer([], ["busybox:1", *aliases])
        )
        assert claw.main([*argv, "--context", "host-b"]) == 3
        out, err = capsys.readouterr()
        if "--json" not in argv:
            assert out == "", "no line per engine, no summary: a fleet of one says what one engine says"
            assert err.splitlines()[0] == "error: pod work is not ready:"
    document = json.loads(out)
    assert (document["ok"], document["ready"], "engines" in document) == (False, False, False)
    assert document["services"][0]["name"] == "web"
    assert document["error"]["message"].startswith("pod work is not ready:")


def test_up_on_several_engines_needs_detach(
    fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "claw-pod.yml").write_text("services:\n  web:\n    image: busybox:1\n")
    assert claw.main(["--context", "host-a,host-b", "up"]) == 2
    assert "with several contexts, up needs -d or --check" in capsys.readouterr().err
    assert fake.args == []


def ready_on_a_only(fake: FakeDocker, here: Path) -> None:
    """A one-service pod whose image host-a has and host-b has not (the runner bases on both)."""
    (here / "claw-pod.yml").write_text("services:\n  web:\n    image: busybox:1\n")
    knows(fake, "host-a", "host-b")
    aliases = [f"{alias}:latest" for alias in ALIASES]
    fake.answer(["--context", "host-a", "image", "inspect"], **inspect_answer(["busybox:1"], aliases))
    fake.answer(["--context", "host-b", "image", "inspect"], **inspect_answer([], ["busybox:1", *aliases]))


def test_up_starts_nothing_unless_every_engine_is_ready(
    fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready_on_a_only(fake, here)
    assert claw.main(["up", "-d", "--context", "host-a,host-b"]) == 3
    out, err = capsys.readouterr()
    assert "[host-a] ok" in out
    assert "[host-b] failed: pod work is not ready:" in out
    assert "error: 1 of 2 engines did not succeed: host-b" in err
    assert not any("compose" in call for call in fake.args), "nothing started anywhere"


def test_up_check_says_ready_only_of_the_engines_that_are(
    fake: FakeDocker, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready_on_a_only(fake, here)
    assert claw.main(["up", "--check", "--context", "host-a,host-b"]) == 3
    assert capsys.readouterr().out.splitlines() == [
        "[host-a] pod work: ready",
        "[host-a] ok",
        "[host-b] failed: pod work is not ready:",
        "[host-b]   web: image busybox:1 is not on this host",
    ]


@pytest.mark.parametrize(
    ("contexts", "argv"),
    [
        ("", ["pull", "-f", "claw-pod.yml"]),
        ("host-a,host-b", ["--context", "host-a,host-b", "pull", "-f", "claw-pod.yml"]),
        ("host-a host-b", ["--context", "host-a host-b", "pull", "-f", "claw-pod.yml"]),
    ],
)
def test_claw_mk_passes_the_contexts_as_one_option(tmp_path: Path, contexts: str, argv: list[str]) -> None:
    show = f"{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'"
    (tmp_path / "Makefile").write_text(f"CLAW := {show}\ninclude {ROOT / 'claw.mk'}\n")
    ran = subprocess.run(
        ["make", "-s", "claw-pull", f"CLAW_CONTEXTS={contexts}"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(ran.stdout) == argv
