"""The refresh transaction against a model of the engine's tags (our docker verbs patched).

The integration suite proves the same promises on the real engine; here every
step can fail on demand, fast.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from lib import docker, refresh, runners
from lib.classify import Breaker
from lib.errors import (
    DockerError,
    DockerTimeout,
    EngineUnreachable,
    Interrupted,
    PermanentError,
    RegistryBlocked,
)
from lib.events import Recorder
from lib.versions import short_id

RECIPE = "FROM example/openclaw-runtime:latest\n"


class Model:
    """Tags and images, as far as the refresh can see them."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.created: dict[str, int] = {}
        self.fail: dict[str, BaseException] = {}
        self.probe_output = "OpenClaw 1.2.3 (3f2a9c1)\n"
        self.in_use: set[str] = set()
        self.built_labels: list[Mapping[str, str]] = []

    def new_image(self) -> str:
        image_id = f"sha256:{len(self.created) + 1:064x}"
        self.created[image_id] = len(self.created) + 1
        return image_id

    def _maybe_fail(self, step: str) -> None:
        if step in self.fail:
            raise self.fail[step]

    def build(self, context: Path, *, tag: str, labels: Mapping[str, str], **_: Any) -> str:
        self._maybe_fail("build")
        self.built_labels.append(dict(labels))
        image_id = self.new_image()
        self.tags[tag] = image_id
        return image_id

    def image(self, ref: str) -> docker.Image | None:
        image_id = self.tags.get(ref)
        if image_id is None:
            return None
        return docker.Image(image_id, tuple(r for r, i in self.tags.items() if i == image_id))

    def image_id(self, ref: str) -> str | None:
        return self.tags.get(ref)

    def tag(self, source: str, target: str) -> None:
        self._maybe_fail(f"tag {target}")
        self.tags[target] = source if source.startswith("sha256:") else self.tags[source]

    def remove_image(self, ref: str, *, force: bool = False) -> bool:
        return self.tags.pop(ref, None) is not None

    def run_probe(self, image: str, argv: Sequence[str], *, timeout: float, labels: Mapping[str, str]) -> str:
        self._maybe_fail("probe")
        return self.probe_output

    def list_images(self, patterns: Sequence[str]) -> list[docker.Listed]:
        rows = []
        for ref, image_id in self.tags.items():
            if any(fnmatch.fnmatchcase(ref, p) or ref.rsplit(":", 1)[0] == p for p in patterns):
                repository, tag = ref.rsplit(":", 1)
                rows.append(docker.Listed(repository, tag, image_id, f"{self.created[image_id]:06d}"))
        return rows

    def containers_labelled(self, label: str) -> list[str]:
        return []

    def container_image_ids(self) -> set[str]:
        return set(self.in_use)

    def images_with_label(self, key: str) -> list[docker.Image]:
        return []

    def refresh_tags(self) -> list[str]:
        return [ref for ref in self.tags if ":claw-refresh-" in ref]


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Model:
    made = Model()
    for name in (
        "build", "image", "image_id", "tag", "remove_image", "run_probe", "list_images",
        "containers_labelled", "container_image_ids", "images_with_label",
    ):  # fmt: skip
        monkeypatch.setattr(docker, name, getattr(made, name))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    return made


@pytest.fixture
def runner(tmp_path: Path) -> runners.Runner:
    path = tmp_path / "openclaw.Dockerfile"
    path.write_text(RECIPE)
    return runners.Runner("openclaw", "openclaw", RECIPE, path, ("openclaw", "--version"), 5)


def run(runner: runners.Runner, **options: Any) -> tuple[refresh.Outcome, Recorder]:
    events = Recorder()
    return refresh.refresh(runner, refresh.Options(**options), events), events


def install(model: Model, runner: runners.Runner, version: str) -> str:
    model.probe_output = f"OpenClaw {version}\n"
    outcome, _ = run(runner)
    assert not outcome.failed, outcome.line()
    return model.tags["openclaw:latest"]


def test_first_install(model: Model, runner: runners.Runner) -> None:
    outcome, events = run(runner)
    assert outcome.line() == "openclaw: installed v1.2.3"
    assert model.tags["openclaw:latest"] == model.tags["openclaw:v1.2.3"] == outcome.image_id
    assert not model.refresh_tags()
    (labels,) = model.built_labels
    assert labels["claw.base.driver"] == "openclaw"
    assert labels["claw.base.recipe-sha"] == runner.recipe_sha
    assert events.of("progress")[-1] == "probing the version: openclaw --version"


def test_upgrade_and_rebuild_lines(model: Model, runner: runners.Runner) -> None:
    old = install(model, runner, "0.5.0")
    model.probe_output = "0.5.2"
    upgraded, _ = run(runner)
    assert upgraded.line() == "openclaw: installed v0.5.2 (was v0.5.0)"
    assert model.tags["openclaw:v0.5.0"] == old
    rebuilt, _ = run(runner)
    assert rebuilt.line() == (
        f"openclaw: rebuilt v0.5.2 (same version; image {short_id(rebuilt.image_id or '')}, "
        f"was {short_id(upgraded.image_id or '')})"
    )
    assert model.tags["openclaw:v0.5.2"] == rebuilt.image_id


def test_an_alias_built_by_hand_is_replaced(model: Model, runner: runners.Runner) -> None:
    model.tags["openclaw:latest"] = by_hand = model.new_image()
    outcome, _ = run(runner)
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
    outcome, _ = run(runner)
    assert outcome.line() == f"openclaw: refresh failed: {reason}; kept openclaw:v0.5.0"
    assert model.tags == before
    assert outcome.log is not None
    assert outcome.log.exists()


def test_a_failed_latest_tag_moves_a_rebuilt_version_tag_back(model: Model, runner: runners.Runner) -> None:
    install(model, runner, "0.5.0")
    before = dict(model.tags)
    model.fail["tag openclaw:latest"] = PermanentError(("docker", "tag"), 1, "", "boom")
    outcome, _ = run(runner)
    assert outcome.failed
    assert model.tags == before


def test_the_log_is_discarded_after_success(model: Model, runner: runners.Runner, tmp_path: Path) -> None:
    outcome, _ = run(runner)
    assert outcome.log is None
    assert not list((tmp_path / "state" / "claw" / "logs").iterdir())


def test_probe_without_a_version_gets_the_fallback_tag_and_a_warning(
    model: Model, runner: runners.Runner
) -> None:
    model.probe_output = "OpenClaw (dev build)\n"
    outcome, events = run(runner)
    assert outcome.version is not None
    assert outcome.version.startswith("built-")
    assert outcome.version.endswith(short_id(outcome.image_id or ""))
    assert events.of("warn") == [
        f"openclaw: probe `openclaw --version` printed no version; tagged {outcome.version}"
    ]


def test_a_rate_limit_trips_the_breaker_and_the_next_refresh_is_not_attempted(
    model: Model, runner: runners.Runner
) -> None:
    install(model, runner, "0.5.0")
    breaker = Breaker()
    model.fail["build"] = RegistryBlocked(
        ("docker", "build"), 1, "", "toomanyrequests: slow down", hint="log in"
    )
    blocked, _ = run(runner, breaker=breaker)
    assert (
        blocked.line() == "openclaw: refresh failed: build: toomanyrequests: slow down; kept openclaw:v0.5.0"
    )
    assert blocked.hint == "log in"
    del model.fail["build"]
    skipped, _ = run(runner, breaker=breaker)
    assert skipped.status == "not-attempted"
    assert skipped.line() == (
        "openclaw: not attempted: the registry refused an earlier request (toomanyrequests: slow down); "
        "kept openclaw:v0.5.0"
    )


def test_an_interruption_is_raised_and_cleans_up(model: Model, runner: runners.Runner) -> None:
    install(model, runner, "0.5.0")
    before = dict(model.tags)
    model.fail["probe"] = Interrupted()
    with pytest.raises(Interrupted):
        run(runner)
    assert model.tags == before


def test_a_cancelled_run_starts_nothing(model: Model, runner: runners.Runner) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Interrupted):
        run(runner, cancel=cancel)
    assert model.built_labels == []


def test_engine_trouble_before_the_state_is_known(
    model: Model, runner: runners.Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def gone(patterns: object) -> None:
        raise DockerError(("docker", "image", "ls"), 1, "", "Cannot connect to the Docker daemon")

    monkeypatch.setattr(docker, "list_images", gone)
    outcome, _ = run(runner)
    assert (
        outcome.line()
        == "openclaw: refresh failed: Cannot connect to the Docker daemon; openclaw left as it was"
    )


def test_keep_removes_the_oldest_versions_but_not_those_in_use(model: Model, runner: runners.Runner) -> None:
    first = install(model, runner, "1.0.0")
    model.in_use.add(first)
    for version in ("2.0.0", "3.0.0"):
        install(model, runner, version)
    model.probe_output = "4.0.0"
    outcome, events = run(runner, keep=2)
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
        run(runner)
    assert model.refresh_tags() == []
