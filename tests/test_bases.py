"""The refresh transaction against a model of the engine's tags (the model is the engine).

The integration suite proves the same promises on the real engine; here every
step can fail on demand, fast.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from lib import bases, locks, runners, transaction
from lib.classify import Breaker
from lib.errors import (
    DockerError,
    DockerTimeout,
    EngineUnreachable,
    Interrupted,
    PermanentError,
    RegistryBlocked,
)
from lib.status import Status
from lib.versions import short_id
from tests.harness.model import Model
from tests.harness.recorder import Recorder

RECIPE = "FROM example/openclaw-runtime:latest\n"


@pytest.fixture
def model(private_state: Path) -> Model:
    return Model()


@pytest.fixture
def runner(tmp_path: Path) -> runners.Runner:
    path = tmp_path / "openclaw.Dockerfile"
    path.write_text(RECIPE)
    return runners.Runner("openclaw", "openclaw", RECIPE, path, ("openclaw", "--version"), 5)


def run(model: Model, runner: runners.Runner, **options: Any) -> tuple[bases.Outcome, Recorder]:
    events = Recorder()
    return transaction.refresh(model, runner, bases.Options(**options), events), events


def install(model: Model, runner: runners.Runner, version: str) -> str:
    model.probe_output = f"OpenClaw {version}\n"
    outcome, _ = run(model, runner)
    assert not outcome.failed, outcome.line()
    return model.tags["openclaw:latest"]


def test_first_install(model: Model, runner: runners.Runner) -> None:
    outcome, events = run(model, runner)
    assert outcome.line() == "openclaw: installed v1.2.3"
    assert outcome.status is Status.INSTALLED
    assert model.tags["openclaw:latest"] == model.tags["openclaw:v1.2.3"] == outcome.image_id
    assert not model.refresh_tags()
    (labels,) = model.built_labels
    assert labels["claw.base.driver"] == "openclaw"
    assert labels["claw.base.recipe-sha"] == runner.recipe_sha
    assert events.of("progress")[-1] == "probing the version: openclaw --version"
    assert model.built_pull == [True]  # nothing was pulled beforehand: the build fetches its FROMs


def test_upgrade_and_rebuild_lines(model: Model, runner: runners.Runner) -> None:
    old = install(model, runner, "0.5.0")
    model.probe_output = "0.5.2"
    upgraded, _ = run(model, runner)
    assert upgraded.line() == "openclaw: installed v0.5.2 (was v0.5.0)"
    assert model.tags["openclaw:v0.5.0"] == old
    rebuilt, _ = run(model, runner)
    assert rebuilt.line() == (
        f"openclaw: rebuilt v0.5.2 (same version; image {short_id(rebuilt.image_id or '')}, "
        f"was {short_id(upgraded.image_id or '')})"
    )
    assert rebuilt.status is Status.REBUILT
    assert model.tags["openclaw:v0.5.2"] == rebuilt.image_id


def test_an_alias_built_by_hand_is_replaced(model: Model, runner: runners.Runner) -> None:
    model.tags["openclaw:latest"] = by_hand = model.new_image()
    outcome, _ = run(model, runner)
    assert (
        outcome.line()
        == f"openclaw: installed v1.2.3 (was an untagged openclaw:latest, image {by_hand[7:19]})"
    )


FAILURES: list[tuple[str, BaseException, str]] = [
    ("build", PermanentError(("docker", "build"), 3, "", "The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
     "build: The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
    ("probe", PermanentError(("docker", "run"), 4, "", "cannot start\n"),
     "probe `openclaw --version` failed (exit 4): cannot start"),
    ("probe", DockerTimeout(("docker", "run"), 5), "probe `openclaw --version` did not finish within 5s"),
    ("tag openclaw:v0.6.0", PermanentError(("docker", "tag"), 1, "", "boom"), "tag openclaw:v0.6.0: boom"),
    ("tag openclaw:latest", PermanentError(("docker", "tag"), 1, "", "boom"), "tag openclaw:latest: boom"),
]  # fmt: skip


@pytest.mark.parametrize(("step", "error", "reason"), FAILURES)
def test_a_failure_at_any_step_leaves_the_alias_as_it_was(
    model: Model, runner: runners.Runner, step: str, error: BaseException, reason: str
) -> None:
    install(model, runner, "0.5.0")
    before = dict(model.tags)
    model.probe_output = "0.6.0"
    model.fail[step] = error
    outcome, _ = run(model, runner)
    assert outcome.line() == f"openclaw: refresh failed: {reason}; kept openclaw:v0.5.0"
    assert outcome.status is Status.FAILED
    assert model.tags == before
    assert outcome.log is not None
    assert outcome.log.exists()


def test_a_failed_latest_tag_moves_a_rebuilt_version_tag_back(model: Model, runner: runners.Runner) -> None:
    install(model, runner, "0.5.0")
    before = dict(model.tags)
    model.fail["tag openclaw:latest"] = PermanentError(("docker", "tag"), 1, "", "boom")
    outcome, _ = run(model, runner)
    assert outcome.failed
    assert model.tags == before


def test_the_log_is_discarded_after_success(model: Model, runner: runners.Runner, tmp_path: Path) -> None:
    outcome, _ = run(model, runner)
    assert outcome.log is None
    assert not list((tmp_path / "state" / "claw" / "logs").iterdir())


@pytest.mark.parametrize(
    ("output", "first"),
    [
        pytest.param("OpenClaw (dev build)\n", "OpenClaw (dev build)", id="words"),
        pytest.param("\n  \n", "", id="blank-lines"),
        pytest.param("", "", id="nothing"),
    ],
)
def test_a_probe_without_a_version_fails_and_latest_stays(
    model: Model, runner: runners.Runner, output: str, first: str
) -> None:
    install(model, runner, "0.5.0")
    before = dict(model.tags)
    model.probe_output = output
    outcome, events = run(model, runner)
    assert outcome.status is Status.FAILED
    assert outcome.version is None
    assert outcome.line() == (
        f"openclaw: refresh failed: probe `openclaw --version` printed no version (first line: {first!r}); "
        "kept openclaw:v0.5.0"
    )
    assert model.tags == before
    assert model.refresh_tags() == []
    assert not any(tag.startswith("openclaw:built-") for tag in model.tags)
    assert events.of("warn") == []
    assert outcome.log is not None
    assert outcome.log.exists()


def test_a_probe_without_a_version_on_a_first_install_installs_nothing(
    model: Model, runner: runners.Runner
) -> None:
    model.probe_output = "OpenClaw (dev build)\n"
    outcome, _ = run(model, runner)
    assert outcome.line() == (
        "openclaw: refresh failed: probe `openclaw --version` printed no version "
        "(first line: 'OpenClaw (dev build)'); openclaw is not installed"
    )
    assert model.tags == {}


def test_a_runner_without_a_probe_gets_the_fallback_tag(model: Model, tmp_path: Path) -> None:
    path = tmp_path / "mybot.Dockerfile"
    path.write_text(RECIPE)
    no_probe = runners.Runner("mybot", "mybot", RECIPE, path, ())
    utc = datetime.timezone.utc
    days = {f"{datetime.datetime.now(utc):%Y%m%d}"}
    outcome, events = run(model, no_probe)
    days.add(f"{datetime.datetime.now(utc):%Y%m%d}")  # the run may straddle midnight
    assert outcome.status is Status.INSTALLED
    assert outcome.version is not None
    found = re.fullmatch(r"built-(\d{8})-([0-9a-f]{12})", outcome.version)
    assert found is not None, outcome.version
    assert found.group(1) in days
    assert found.group(2) == short_id(outcome.image_id or "")
    assert outcome.line() == f"mybot: installed {outcome.version}"
    assert model.tags["mybot:latest"] == model.tags[f"mybot:{outcome.version}"] == outcome.image_id
    assert model.probed == []
    assert not any(text.startswith("probing") for text in events.of("progress"))
    assert events.of("warn") == []
    assert model.refresh_tags() == []


def test_a_rate_limit_trips_the_breaker_and_the_next_refresh_is_not_attempted(
    model: Model, runner: runners.Runner
) -> None:
    install(model, runner, "0.5.0")
    breaker = Breaker()
    model.fail["build"] = RegistryBlocked(
        ("docker", "build"), 1, "", "toomanyrequests: slow down", hint="log in"
    )
    blocked, _ = run(model, runner, breaker=breaker)
    assert (
        blocked.line() == "openclaw: refresh failed: build: toomanyrequests: slow down; kept openclaw:v0.5.0"
    )
    assert blocked.hint == "log in"
    del model.fail["build"]
    skipped, _ = run(model, runner, breaker=breaker)
    assert skipped.status == "not-attempted"
    assert skipped.status is Status.NOT_ATTEMPTED
    assert skipped.failed
    assert skipped.line() == (
        "openclaw: not attempted: the registry refused an earlier request (toomanyrequests: slow down); "
        "kept openclaw:v0.5.0"
    )


def test_an_interruption_is_raised_and_cleans_up(model: Model, runner: runners.Runner) -> None:
    install(model, runner, "0.5.0")
    before = dict(model.tags)
    model.fail["probe"] = Interrupted()
    with pytest.raises(Interrupted):
        run(model, runner)
    assert model.tags == before


def test_a_cancelled_run_starts_nothing(model: Model, runner: runners.Runner) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Interrupted):
        run(model, runner, cancel=cancel)
    assert model.built_labels == []


def test_a_cancel_during_the_build_stops_before_the_probe(model: Model, runner: runners.Runner) -> None:
    """Ctrl-C lands while docker builds (the build still finishes): nothing more starts,
    the new image is never probed nor tagged, and the alias stays as it was."""
    install(model, runner, "0.5.0")
    before, probes = dict(model.tags), len(model.probed)
    cancel = threading.Event()
    build = model.build

    def interrupted_build(context: Path, **options: Any) -> str:
        image_id = build(context, **options)
        cancel.set()
        return image_id

    model.build = interrupted_build  # type: ignore[method-assign]
    model.probe_output = "0.6.0"
    with pytest.raises(Interrupted):
        run(model, runner, cancel=cancel)
    assert len(model.probed) == probes
    assert model.tags == before


def test_engine_trouble_before_the_state_is_known(model: Model, runner: runners.Runner) -> None:
    model.fail["list"] = DockerError(("docker", "image", "ls"), 1, "", "Cannot connect to the Docker daemon")
    outcome, _ = run(model, runner)
    assert (
        outcome.line()
        == "openclaw: refresh failed: Cannot connect to the Docker daemon; openclaw left as it was"
    )


@pytest.mark.parametrize("user", ["a container", "a service image"])
def test_keep_removes_the_oldest_versions_but_not_those_in_use(
    model: Model, runner: runners.Runner, user: str
) -> None:
    first = install(model, runner, "1.0.0")
    if user == "a container":
        model.start_container("team-web-1", first)  # a container of the oldest version
    else:  # a service image built on it, no container of it anywhere
        model.add("claw-local/team-web:latest", labels={runners.RUNNER_IMAGE_ID: first})
    for version in ("2.0.0", "3.0.0"):
        install(model, runner, version)
    model.probe_output = "4.0.0"
    outcome, events = run(model, runner, keep=2)
    assert outcome.removed == ("openclaw:v2.0.0",)
    assert sorted(t for t in model.tags if t.startswith("openclaw:v")) == [
        "openclaw:v1.0.0", "openclaw:v3.0.0", "openclaw:v4.0.0",
    ]  # fmt: skip
    assert "keeping openclaw:v1.0.0: a service image or a container uses it" in events.of("progress")
    assert "removed openclaw:v2.0.0 (keeping the newest 2 versions)" in events.of("progress")


def test_an_unreachable_engine_ends_the_run_instead_of_failing_one_runner(
    model: Model, runner: runners.Runner
) -> None:
    model.fail["build"] = EngineUnreachable(("docker", "build"), 1, "", "Cannot connect to the Docker daemon")
    with pytest.raises(EngineUnreachable):
        run(model, runner)
    assert model.refresh_tags() == []


def test_current_reads_the_alias(model: Model, runner: runners.Runner) -> None:
    assert bases.current(model, runner) is None
    image_id = install(model, runner, "0.5.0")
    assert bases.current(model, runner) == bases.Installed(image_id, "v0.5.0")


# --------------------------------------------------------------------------
# Going back (SPEC §10)
# --------------------------------------------------------------------------


def back(model: Model, runner: runners.Runner, to: str | None = None, **kw: Any) -> bases.Outcome:
    return bases.rollback(model, runner, to, bases.Options(), Recorder(), **kw)


def test_rollback_moves_latest_to_the_newest_older_version_with_one_tag(
    model: Model, runner: runners.Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = install(model, runner, "2026.5.20")
    second = install(model, runner, "2026.5.22")
    install(model, runner, "2026.5.24")
    tagged: list[tuple[str, str]] = []
    tag = model.tag

    def recording(source: str, target: str) -> None:
        tagged.append((source, target))
        tag(source, target)

    monkeypatch.setattr(model, "tag", recording)
    monkeypatch.setattr(model, "build", None)  # nothing is built: calling it would fail
    outcome = back(model, runner)
    assert outcome.line() == "openclaw: rolled back to v2026.5.22 (was v2026.5.24)"
    assert model.tags["openclaw:latest"] == second
    assert tagged == [(second, "openclaw:latest")]
    assert back(model, runner).line() == "openclaw: rolled back to v2026.5.20 (was v2026.5.22)"
    assert model.tags["openclaw:latest"] == first
    assert sorted(model.tags) == [
        "openclaw:latest", "openclaw:v2026.5.20", "openclaw:v2026.5.22", "openclaw:v2026.5.24",
    ]  # fmt: skip


def test_rollback_passes_over_other_tags_of_the_image_latest_names(
    model: Model, runner: runners.Runner
) -> None:
    """latest's image has a second version tag: going back means an older image, not a
    tag of the same one (which would move nothing)."""
    first = install(model, runner, "1.0.0")
    second = install(model, runner, "2.0.0")
    model.tag(second, "openclaw:v1.9.0")  # the same image under another version
    outcome = back(model, runner)
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.version == "v1.0.0"
    assert outcome.image_id == first
    assert model.tags["openclaw:latest"] == first


def test_older_is_by_creation_time_not_by_version_string(model: Model, runner: runners.Runner) -> None:
    """Upstream moved from calendar versions to semver: v1.0.0 sorts lowest as a version,
    but it is the newest image, so going back means v2026.5.22."""
    old = install(model, runner, "2026.5.22")
    install(model, runner, "1.0.0")
    assert back(model, runner).line() == "openclaw: rolled back to v2026.5.22 (was v1.0.0)"
    assert model.tags["openclaw:latest"] == old


def test_rollback_to_a_named_tag_and_forward_again(model: Model, runner: runners.Runner) -> None:
    first = install(model, runner, "1.0.0")
    install(model, runner, "2.0.0")
    third = install(model, runner, "3.0.0")
    assert back(model, runner, "v1.0.0").line() == "openclaw: rolled back to v1.0.0 (was v3.0.0)"
    assert model.tags["openclaw:latest"] == first
    assert back(model, runner, "v3.0.0").line() == "openclaw: rolled forward to v3.0.0 (was v1.0.0)"
    assert model.tags["openclaw:latest"] == third
    assert back(model, runner, "v3.0.0").line() == "openclaw: already at v3.0.0"


def test_rollback_without_an_older_version_fails_listing_the_versions(
    model: Model, runner: runners.Runner
) -> None:
    assert back(model, runner).line() == (
        "openclaw: rollback failed: nothing installed: no openclaw:latest (versions here: none); "
        "openclaw is not installed"
    )
    only = install(model, runner, "1.0.0")
    outcome = back(model, runner)
    assert outcome.failed
    assert outcome.line() == (
        "openclaw: rollback failed: no version older than v1.0.0 on this host (versions here: v1.0.0); "
        "kept openclaw:v1.0.0"
    )
    assert model.tags["openclaw:latest"] == only


def test_rollback_to_a_missing_tag_fails_and_changes_nothing(model: Model, runner: runners.Runner) -> None:
    install(model, runner, "1.0.0")
    latest = install(model, runner, "2.0.0")
    outcome = back(model, runner, "v0.9.0")
    assert outcome.failed
    assert outcome.reason == "openclaw:v0.9.0 is not on this host (versions here: v2.0.0, v1.0.0)"
    assert model.tags["openclaw:latest"] == latest


def test_a_dry_run_rollback_says_what_it_would_do_and_tags_nothing(
    model: Model, runner: runners.Runner
) -> None:
    install(model, runner, "1.0.0")
    latest = install(model, runner, "2.0.0")
    outcome = back(model, runner, dry_run=True)
    assert outcome.line() == "openclaw: would roll back to v1.0.0 (now v2.0.0)"
    assert outcome.status is Status.WOULD_ROLL_BACK
    assert model.tags["openclaw:latest"] == latest


def test_keep_never_prunes_the_pinned_version(model: Model, runner: runners.Runner) -> None:
    install(model, runner, "1.0.0")
    for version in ("2.0.0", "3.0.0"):
        install(model, runner, version)
    pinned = dataclasses.replace(runner, pin="v1.0.0")
    model.probe_output = "4.0.0"
    outcome, _ = run(model, pinned, keep=1)
    assert outcome.removed == ("openclaw:v3.0.0", "openclaw:v2.0.0")
    assert "openclaw:v1.0.0" in model.tags


def test_generations_list_latest_the_pin_and_the_services_using_each(
    model: Model, runner: runners.Runner
) -> None:
    first = install(model, runner, "1.0.0")
    second = install(model, runner, "2.0.0")
    found = bases.generations(model, dataclasses.replace(runner, pin="v1.0.0"), {first: ("web:1",)})
    assert [(g.tag, g.image_id, g.latest, g.pinned, g.used_by) for g in found] == [
        ("v2.0.0", second, True, False, ()),
        ("v1.0.0", first, False, True, ("web:1",)),
    ]
    assert found[1].line().endswith("(pinned; used by web:1)")
    assert found[0].to_json()["latest"] is True


def test_users_names_the_service_images_built_on_each_base(model: Model) -> None:
    base = "sha256:" + "b" * 64
    built = {runners.RUNNER_IMAGE_ID: base}
    model.add("web:2", "web:latest", labels=built, image_id="sha256:" + "1" * 64)
    model.add(labels=built, image_id="sha256:" + "2" * 64)  # an older build, its tag moved on
    model.add("web:1", labels={"team": "red"})  # not built on a runner base
    assert bases.users(model) == {base: ("an untagged image 222222222222", "web:2", "web:latest")}


def test_probe_containers_are_looked_for_only_after_a_killed_holder(
    model: Model, runner: runners.Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh that ended in any way but SIGKILL removed its own probe container, and
    leaves the lock clean: the next refresh spends no `docker container ls` on it."""
    asked: list[str] = []

    def containers_labelled(label: str) -> list[str]:
        asked.append(label)
        return []

    monkeypatch.setattr(model, "containers_labelled", containers_labelled)
    install(model, runner, "1.0.0")
    install(model, runner, "2.0.0")
    assert asked == []
    path = locks.path_for(f"runner-{runner.alias}", model.where)
    path.write_text("4194304\n")  # what a holder killed with the lock leaves: its pid
    install(model, runner, "3.0.0")
    assert asked == [f"{runners.PROBE}=openclaw"]


def test_rollback_of_an_untagged_latest_goes_to_the_newest_version_older_than_it(
    model: Model, runner: runners.Runner
) -> None:
    """latest built by hand (no version tag) between two versions: going back means the
    newest version created before it, not the newest of all (which is newer than latest)."""
    older = install(model, runner, "1.0.0")
    by_hand = model.add("openclaw:latest")  # created after v1.0.0
    install(model, runner, "2.0.0")  # created after it, then latest is put back by hand
    model.tag(by_hand, "openclaw:latest")
    outcome = back(model, runner)
    assert outcome.line() == (
        f"openclaw: rolled back to v1.0.0 (was untagged, image {by_hand.removeprefix('sha256:')[:12]})"
    )
    assert model.tags["openclaw:latest"] == older


def test_a_refresh_that_waited_for_another_is_not_built_again_when_that_one_is_current(
    model: Model, runner: runners.Runner
) -> None:
    """Two pulls of one alias: the second asked upstream before it got the lock; by then
    the first has built a base from the same answers, so the second builds nothing."""
    from lib import livecheck

    image = livecheck.FromImage("example/openclaw-runtime:latest", digest="sha256:" + "d" * 64)
    now = livecheck.Now(runner.recipe_sha, (image,), (), downloaded=True, before="2026-12-03T07:00:00Z")
    first = transaction.refresh(
        model, runner, bases.Options(), Recorder(), now=now, seen=None
    )  # the other pull
    assert first.status is Status.INSTALLED
    builds = len(model.built_labels)
    waited = transaction.refresh(model, runner, bases.Options(), Recorder(), now=now, seen=None)
    assert waited.status is Status.UP_TO_DATE
    assert waited.line().startswith(
        "openclaw: up to date v1.2.3 (example/openclaw-runtime:latest unchanged; "
    )
    assert len(model.built_labels) == builds  # nothing built
    moved = dataclasses.replace(now, recipe_sha="sha256:" + "e" * 64)  # but a base that is not current is
    assert (
        transaction.refresh(model, runner, bases.Options(), Recorder(), now=moved, seen=None).status
        is Status.REBUILT
    )


def test_a_rate_limited_from_image_trips_the_breaker_and_the_rest_of_the_run_is_not_attempted(
    model: Model, runner: runners.Runner
) -> None:
    """Livecheck pulls each FROM image under the run's policy: a refusal says why the image
    could not be asked, and stops the run's remaining registry work."""
    from lib import asking
    from lib.errors import NotAttempted
    from tests.harness.model import Asker

    breaker = Breaker()
    model.fail["pull example/openclaw-runtime:latest"] = RegistryBlocked(
        ("docker", "pull"), 1, "", "toomanyrequests: slow down", hint="log in"
    )
    options = bases.Options(breaker=breaker)
    checked = asking.ask(model, runner, Asker(), options, Recorder(), download=True)
    (image,) = checked.now.images
    assert image.error == "toomanyrequests: slow down"
    with pytest.raises(NotAttempted, match="toomanyrequests: slow down"):
        breaker.check()
    skipped, _ = run(model, runner, breaker=breaker)
    assert skipped.status is Status.NOT_ATTEMPTED
    assert model.built_labels == []


def test_a_rate_limited_locked_from_image_fails_its_runner_and_trips_the_breaker(
    model: Model, runner: runners.Runner
) -> None:
    """A build of a claw.lock entry fetches its locked FROM image under the run's policy: a
    refusal fails that runner, naming the locked image, and stops the run's remaining
    registry work."""
    from lib import lockfile
    from lib.errors import NotAttempted

    locked = "docker.io/example/openclaw-runtime:latest@sha256:" + "b" * 64
    entry = lockfile.BaseEntry(driver=runner.driver, recipe_sha="sha256:" + "a" * 64, froms=(locked,))
    model.fail[f"pull {locked}"] = RegistryBlocked(
        ("docker", "pull"), 1, "", "toomanyrequests: slow down", hint="log in"
    )
    breaker = Breaker()
    outcome = transaction.refresh(model, runner, bases.Options(breaker=breaker), Recorder(), entry=entry)
    assert outcome.failed
    assert f"the locked {locked} cannot be fetched (toomanyrequests: slow down)" in outcome.line()
    with pytest.raises(NotAttempted, match="toomanyrequests: slow down"):
        breaker.check()
    assert model.built_labels == []
