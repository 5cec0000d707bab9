"""`claw pull` planning (pure) and execution with our docker verbs patched."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from lib import config, docker, infra, pull, refresh, target
from lib.errors import InputError, PermanentError, RegistryBlocked
from lib.events import Recorder

POD = """\
x-claw: {pod: team}
services:
  analyst:
    build: analyst
    x-claw: {cllama: [openai, policy]}
  helper:
    build: helper
  plain:
    build:
      context: plain
    image: registry.example/plain:1
  db:
    image: postgres:16
    x-claw: {dashboard: true}
  cache:
    image: postgres:16
"""


@pytest.fixture
def pod_dir(tmp_path: Path) -> Path:
    for name, text in {
        "analyst/Clawfile": "FROM openclaw:latest\nCLAW_TYPE openclaw\n",
        "helper/Clawfile": "FROM python:3.12\nCLAW_TYPE nanobot\n",  # not FROM the alias: no runner
        "plain/Dockerfile": "FROM nanobot\n",  # not a Clawfile: no runner
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "claw-pod.yml").write_text(POD)
    return tmp_path


def kinds(the_plan: pull.Plan) -> list[tuple[str, str, str]]:
    return [(a.kind, a.name, a.ref) for a in the_plan.actions]


def test_pod_plan(pod_dir: Path) -> None:
    the_plan = pull.plan(target.Target("pod", pod_dir / "claw-pod.yml"), config.Config(), no_runners=False)
    pins = infra.defaults()
    assert kinds(the_plan) == [
        ("infra", "clawdash", pins["clawdash"]),
        ("infra", "cllama", pins["cllama"]),
        ("infra", "cllama-policy", pins["cllama-policy"]),
        ("image", "db,cache", "postgres:16"),
        ("runner", "openclaw", "openclaw:latest"),
    ]


def test_pod_plan_without_runners(pod_dir: Path) -> None:
    the_plan = pull.plan(target.Target("pod", pod_dir / "claw-pod.yml"), config.Config(), no_runners=True)
    assert [a.kind for a in the_plan.actions] == ["infra", "infra", "infra", "image"]


def test_infra_overrides_from_config(pod_dir: Path) -> None:
    cfg = config.Config(infra={"cllama": "mirror.internal/cllama:v0.4.1"})
    the_plan = pull.plan(target.Target("pod", pod_dir / "claw-pod.yml"), cfg, no_runners=True)
    assert ("infra", "cllama", "mirror.internal/cllama:v0.4.1") in kinds(the_plan)


def test_clawfile_plan(pod_dir: Path) -> None:
    the_plan = pull.plan(
        target.Target("clawfile", pod_dir / "helper/Clawfile"), config.Config(), no_runners=False
    )
    assert kinds(the_plan) == [("runner", "nanobot", "nanobot:latest")]
    none = pull.plan(target.Target("clawfile", pod_dir / "helper/Clawfile"), config.Config(), no_runners=True)
    assert none.actions == ()


def test_clawfile_of_an_unknown_driver(tmp_path: Path) -> None:
    (tmp_path / "Clawfile").write_text("FROM mybot\nCLAW_TYPE mybot\n")
    with pytest.raises(InputError, match="Clawfile: no runner for CLAW_TYPE 'mybot'"):
        pull.plan(target.Target("clawfile", tmp_path / "Clawfile"), config.Config(), no_runners=False)


def test_bare_plan_is_all_infra_and_the_aliases_present(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def listed(patterns: list[str]) -> list[docker.Listed]:
        asked.append(patterns)
        return [
            docker.Listed("nanobot", "v0.1.0", "sha256:1", ""),
            docker.Listed("picoclaw", "claw-refresh-1-2", "sha256:2", ""),  # a leftover is not an install
        ]

    monkeypatch.setattr(docker, "list_images", listed)
    the_plan = pull.plan(target.Target("bare"), config.Config(), no_runners=False)
    assert [a.name for a in the_plan.actions if a.kind == "infra"] == list(infra.defaults())
    assert [a.name for a in the_plan.actions if a.kind == "runner"] == ["nanobot"]
    assert len(asked) == 1
    assert "nanoclaw-orchestrator" in asked[0]


class Registry:
    """docker.pull and docker.inspect_images, patched."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, present: set[str]) -> None:
        self.present = present
        self.pulled: list[str] = []
        self.errors: dict[str, Exception] = {}
        monkeypatch.setattr(docker, "inspect_images", self.inspect)
        monkeypatch.setattr(docker, "pull", self.pull)

    def inspect(self, refs: Iterable[str]) -> dict[str, docker.Image]:
        return {r: docker.Image(f"sha256:{r}", (r,)) for r in refs if r in self.present}

    def pull(self, ref: str, **_: object) -> None:
        if ref in self.errors:
            raise self.errors[ref]
        self.pulled.append(ref)


def plan_of(*actions: pull.Action) -> pull.Plan:
    return pull.Plan(target.Target("pod", Path("claw-pod.yml")), actions)


def test_present_infra_is_not_pulled_and_images_always_are(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(monkeypatch, present={"r/cllama:1", "postgres:16"})
    report = pull.execute(
        plan_of(
            pull.Action("infra", "cllama", "r/cllama:1"),
            pull.Action("infra", "clawdash", "r/clawdash:1"),
            pull.Action("image", "db", "postgres:16"),
        ),
        jobs=2, options=refresh.Options(), events=Recorder(),
    )  # fmt: skip
    assert [r.line for r in report.results] == [
        "cllama: present r/cllama:1",
        "clawdash: pulled r/clawdash:1",
        "db: pulled postgres:16",
    ]
    assert sorted(registry.pulled) == ["postgres:16", "r/clawdash:1"]
    assert not report.failed


def test_a_rate_limit_stops_the_rest_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(monkeypatch, present=set())
    registry.errors["r/a:1"] = RegistryBlocked(
        ("docker", "pull"), 1, "", "toomanyrequests: slow down", hint="log in"
    )
    report = pull.execute(
        plan_of(pull.Action("infra", "a", "r/a:1"), pull.Action("image", "b", "r/b:1")),
        jobs=1, options=refresh.Options(), events=Recorder(),
    )  # fmt: skip
    assert [r.status for r in report.results] == ["failed", "not-attempted"]
    assert (
        report.results[1].line
        == "b: not attempted: the registry refused an earlier request (toomanyrequests: slow down)"
    )
    assert report.hints == ("log in",)
    assert registry.pulled == []


def test_a_permanent_failure_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(monkeypatch, present=set())
    registry.errors["r/a:1"] = PermanentError(("docker", "pull"), 1, "", "manifest unknown")
    report = pull.execute(
        plan_of(pull.Action("image", "a", "r/a:1"), pull.Action("image", "b", "r/b:1")),
        jobs=1, options=refresh.Options(), events=Recorder(),
    )  # fmt: skip
    assert [r.line for r in report.results] == ["a: pull failed: manifest unknown", "b: pulled r/b:1"]
    assert len(report.failed) == 1


def test_dry_run_pulls_nothing_and_the_json_names_every_action(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(monkeypatch, present={"r/cllama:1"})
    report = pull.execute(
        plan_of(pull.Action("infra", "cllama", "r/cllama:1"), pull.Action("image", "db", "postgres:16")),
        jobs=2, options=refresh.Options(), events=Recorder(), dry_run=True,
    )  # fmt: skip
    assert registry.pulled == []
    document = json.loads(json.dumps(report.to_json()))
    assert document["dry_run"] is True
    assert document["ok"] is True
    assert [(a["name"], a["status"]) for a in document["actions"]] == [
        ("cllama", "present"),
        ("db", "would-pull"),
    ]
