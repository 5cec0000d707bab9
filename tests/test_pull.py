"""`claw pull` planning (pure) and execution against a fake engine."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from lib import config, infra, target
from lib.engine.docker import Engine
from lib.errors import InputError, PermanentError, RegistryBlocked
from lib.invocation import Invocation
from lib.status import Status
from lib.verbs import pull
from tests.harness.invocations import invocation as on_engine
from tests.harness.model import Asker, Model

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


def registry(*present: str, published: Iterable[str] = ()) -> Model:
    """An engine holding ``present``, whose registry has them and ``published``."""
    model = Model()
    for ref in present:
        model.add(ref)
    model.publish(*present, *published)
    return model


def invocation(
    where: target.Target, engine: Engine, *, cfg: config.Config | None = None, jobs: int = 2
) -> Invocation:
    """The invocation the CLI would build for ``where``, on ``engine``, asking no real upstream."""
    return on_engine(where, engine, Asker({"npm:openclaw": "2026.5.22"}), cfg=cfg, jobs=jobs)


def pod_target(pod_dir: Path) -> target.Target:
    return target.target_of(None, str(pod_dir / "claw-pod.yml"), pod_dir)


def kinds(actions: Iterable[pull.Action]) -> list[tuple[str, str, str]]:
    return [(a.kind.value, a.name, a.ref) for a in actions]


def test_pod_plan(pod_dir: Path) -> None:
    actions = pull.plan(invocation(pod_target(pod_dir), registry()), no_runners=False)
    pins = infra.defaults()
    assert kinds(actions) == [
        ("infra", "clawdash", pins["clawdash"]),
        ("infra", "cllama", pins["cllama"]),
        ("infra", "cllama-policy", pins["cllama-policy"]),
        ("image", "db,cache", "postgres:16"),
        ("runner", "openclaw", "openclaw:latest"),
    ]


def test_pod_plan_without_runners(pod_dir: Path) -> None:
    actions = pull.plan(invocation(pod_target(pod_dir), registry()), no_runners=True)
    assert [a.kind for a in actions] == ["infra", "infra", "infra", "image"]


def test_infra_overrides_from_config(pod_dir: Path) -> None:
    cfg = config.Config(infra={"cllama": "mirror.internal/cllama:v0.4.1"})
    actions = pull.plan(invocation(pod_target(pod_dir), registry(), cfg=cfg), no_runners=True)
    assert ("infra", "cllama", "mirror.internal/cllama:v0.4.1") in kinds(actions)


def test_clawfile_plan(pod_dir: Path) -> None:
    inv = invocation(target.read_clawfile(pod_dir / "helper/Clawfile"), registry())
    assert kinds(pull.plan(inv, no_runners=False)) == [("runner", "nanobot", "nanobot:latest")]
    none = pull.plan(inv, no_runners=True)
    assert none == ()


def test_clawfile_of_an_unknown_driver(tmp_path: Path) -> None:
    (tmp_path / "Clawfile").write_text("FROM mybot\nCLAW_TYPE mybot\n")
    inv = invocation(target.read_clawfile(tmp_path / "Clawfile"), registry())
    with pytest.raises(InputError, match="Clawfile:2: no runner for CLAW_TYPE 'mybot'"):
        pull.plan(inv, no_runners=False)


def test_bare_plan_is_all_infra_and_the_aliases_present() -> None:
    engine = registry("nanobot:v0.1.0", "picoclaw:claw-refresh-1-2")  # a leftover is not an install
    actions = pull.plan(invocation(target.BareTarget(), engine), no_runners=False)
    assert [a.name for a in actions if a.kind == "infra"] == list(infra.defaults())
    assert [a.name for a in actions if a.kind == "runner"] == ["nanobot"]
    assert len(engine.listings) == 1
    assert "nanoclaw-orchestrator" in engine.listings[0]


def execute(engine: Model, *actions: pull.Action, jobs: int, dry_run: bool = False) -> pull.Report:
    inv = invocation(target.BareTarget(), engine, jobs=jobs)
    return pull.execute(inv, actions, mode=pull.Mode(dry_run=dry_run))


def test_present_infra_is_not_pulled_and_images_always_are() -> None:
    engine = registry("r/cllama:1", "postgres:16", published=["r/clawdash:1"])
    report = execute(
        engine,
        pull.Action(pull.Kind.INFRA, "cllama", "r/cllama:1"),
        pull.Action(pull.Kind.INFRA, "clawdash", "r/clawdash:1"),
        pull.Action(pull.Kind.IMAGE, "db", "postgres:16"),
        jobs=2,
    )
    assert [r.line for r in report.results] == [
        "cllama: present r/cllama:1",
        "clawdash: pulled r/clawdash:1",
        "db: pulled postgres:16",
    ]
    assert sorted(engine.pulled) == ["postgres:16", "r/clawdash:1"]
    assert not report.failed


def test_a_rate_limit_stops_the_rest_and_says_why() -> None:
    engine = registry(published=["r/a:1", "r/b:1"])
    engine.fail["pull r/a:1"] = RegistryBlocked(
        ("docker", "pull"), 1, "", "toomanyrequests: slow down", hint="log in"
    )
    report = execute(
        engine,
        pull.Action(pull.Kind.INFRA, "a", "r/a:1"),
        pull.Action(pull.Kind.IMAGE, "b", "r/b:1"),
        jobs=1,
    )
    assert [r.status for r in report.results] == ["failed", "not-attempted"]
    assert (
        report.results[1].line
        == "b: not attempted: the registry refused an earlier request (toomanyrequests: slow down)"
    )
    assert report.hints == ("log in",)
    assert engine.pulled == []


def test_a_permanent_failure_does_not_stop_the_others() -> None:
    engine = registry(published=["r/a:1", "r/b:1"])
    engine.fail["pull r/a:1"] = PermanentError(("docker", "pull"), 1, "", "manifest unknown")
    report = execute(
        engine,
        pull.Action(pull.Kind.IMAGE, "a", "r/a:1"),
        pull.Action(pull.Kind.IMAGE, "b", "r/b:1"),
        jobs=1,
    )
    assert [r.line for r in report.results] == ["a: pull failed: manifest unknown", "b: pulled r/b:1"]
    assert len(report.failed) == 1


def test_dry_run_pulls_nothing_and_the_json_names_every_action() -> None:
    engine = registry("r/cllama:1", published=["postgres:16"])
    report = execute(
        engine,
        pull.Action(pull.Kind.INFRA, "cllama", "r/cllama:1"),
        pull.Action(pull.Kind.IMAGE, "db", "postgres:16"),
        jobs=2,
        dry_run=True,
    )
    assert engine.pulled == []
    document = json.loads(json.dumps(report.to_json()))
    assert document["dry_run"] is True
    assert document["ok"] is True
    assert [(a["name"], a["status"]) for a in document["actions"]] == [
        ("cllama", "present"),
        ("db", "would-pull"),
    ]


def test_only_keeps_the_actions_whose_ref_is_in_it(pod_dir: Path) -> None:
    pins = infra.defaults()
    engine = registry(published=[pins["cllama"], "postgres:16", "not/in-the-plan:1"])
    wanted = {pins["cllama"], "postgres:16", "not/in-the-plan:1"}
    report = pull.run(invocation(pod_target(pod_dir), engine), only=wanted)
    assert [(r.action.name, r.action.ref) for r in report.results] == [
        ("cllama", pins["cllama"]),
        ("db,cache", "postgres:16"),
    ]  # in the plan's order; a ref the plan does not have adds nothing
    assert sorted(engine.pulled) == sorted([pins["cllama"], "postgres:16"])
    assert [r.status for r in report.results] == [Status.PULLED, Status.PULLED]
    assert engine.prefetched == 0  # no runner left to build


def test_only_can_keep_just_the_runner(pod_dir: Path) -> None:
    engine = registry()
    report = pull.run(
        invocation(pod_target(pod_dir), engine), only={"openclaw:latest"}, mode=pull.Mode(dry_run=True)
    )
    (result,) = report.results
    assert result.action.kind is pull.Kind.RUNNER
    assert result.status is Status.WOULD_REFRESH
    assert result.line.endswith("; not installed)")
    assert engine.pulled == []


def test_an_empty_only_does_nothing(pod_dir: Path) -> None:
    engine = registry()
    report = pull.run(invocation(pod_target(pod_dir), engine), only=set())
    assert report.results == ()
    assert engine.pulled == []


@pytest.mark.parametrize("status", list(Status))
def test_every_status_is_a_plain_string_in_json(status: Status) -> None:
    result = pull.Result(pull.Action(pull.Kind.IMAGE, "db", "postgres:16"), status, "db: ...")
    data = result.to_json()
    assert type(data["status"]) is str
    assert type(data["kind"]) is str
    assert data["status"] == status.value
    assert Status(json.loads(json.dumps(data))["status"]) is status


def test_a_refreshed_runner_round_trips_in_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    (tmp_path / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    model = Model()
    report = pull.run(invocation(target.read_clawfile(tmp_path / "Clawfile"), model))
    data = report.to_json()
    (action,) = data["actions"]
    assert type(action["status"]) is str
    assert type(action["kind"]) is str
    assert action["status"] == "installed"
    assert action["kind"] == "runner"
    assert (action["name"], action["ref"], action["version"]) == ("openclaw", "openclaw:latest", "v1.2.3")
    assert action["image_id"] == model.tags["openclaw:latest"]
    assert action["previous_version"] is None
    assert (data["mode"], data["ok"], data["dry_run"]) == ("clawfile", True, False)
    document = json.loads(json.dumps(data))
    assert document == data
    assert Status(document["actions"][0]["status"]) is Status.INSTALLED
    assert pull.Kind(document["actions"][0]["kind"]) is pull.Kind.RUNNER
    assert model.prefetched == 1


def test_pull_leaves_a_hermes_clawfile_alone(tmp_path: Path) -> None:
    (tmp_path / "Clawfile").write_text("FROM ghcr.io/mostlydev/hermes-base:v1\nCLAW_TYPE hermes\n")
    inv = invocation(target.read_clawfile(tmp_path / "Clawfile"), registry())
    assert pull.plan(inv, no_runners=False) == ()


def test_check_names_what_would_change_beside_what_it_could_not_tell() -> None:
    """`pull --check` with five infra images missing and one question unanswered says both,
    and the pull that fixes the first (exit 1: a question failed)."""
    from lib import target
    from lib.errors import ClawError, NotReady
    from lib.verbs.pull import Action, Kind, Report, Result

    missing = [
        Result(Action(Kind.INFRA, name, f"ghcr.io/mostlydev/{name}:v1"), Status.MISSING, f"{name}: missing")
        for name in ("cllama", "clawdash")
    ]
    unknown = Result(
        Action(Kind.RUNNER, "openclaw", "openclaw:latest"), Status.UNKNOWN, "openclaw: cannot tell", "x"
    )
    both = Report(target.BareTarget(), False, (*missing, unknown), check=True).verdict()
    assert type(both) is ClawError
    assert (
        both.message
        == "2 of 3 would change (cllama, clawdash); 1 of 3 questions could not be answered (openclaw)"
    )
    assert both.hint == "run: claw pull"
    behind = Report(target.BareTarget(), False, tuple(missing), check=True).verdict()
    assert isinstance(behind, NotReady)
    assert behind.message == "2 of 2 would change (cllama, clawdash)"
    assert Report(target.BareTarget(), False, (unknown,), check=True).verdict().hint is None  # type: ignore[union-attr]
    assert Report(target.BareTarget(), False, (), check=True).verdict() is None
