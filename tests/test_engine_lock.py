"""The lock on the engine (SPEC §11): who holds it, waiting for a live holder, taking
over from a dead or too old one, and never removing another holder's lock; then the
two docker calls it stands on, against the stand-in docker with docker's own words."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tenacity

from lib import bases, runners
from lib.engine import lock
from lib.engine.docker import Engine
from lib.errors import Interrupted
from lib.policy import Options
from lib.status import Status
from tests.harness.fake_docker import FakeDocker
from tests.harness.model import Model
from tests.harness.recorder import Recorder

NAME = "runner-openclaw"


@pytest.fixture
def model(private_state: Path) -> Model:
    return Model()


def held_by(model: Model, owner: lock.Owner) -> str:
    """Someone else's lock container on the model engine; its ID."""
    created, cid = model.create_marker(lock.container_name(NAME), lock.IMAGE, owner.labels(NAME))
    assert created
    return cid


def elsewhere(**changes: Any) -> lock.Owner:
    """A live owner on another host."""
    return dataclasses.replace(lock.Owner.me(), host="host-b", place="another-boot/pid:[1]", **changes)


def dead_here() -> lock.Owner:
    """An owner on this host whose process has ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return dataclasses.replace(lock.Owner.me(), pid=int(ended.stdout), started="1")


def test_the_lock_is_a_container_named_for_it_removed_when_done(model: Model) -> None:
    with lock.hold(model, NAME) as took_over:
        ((name, labels),) = model.markers.values()
        assert name == "claw-lock-runner-openclaw"
        assert labels[lock.LABEL] == NAME
        assert lock.Owner.from_labels(labels).pid == lock.Owner.me().pid
        assert not took_over
    assert model.markers == {}


def test_a_name_docker_would_refuse_gets_a_legal_distinct_container_name() -> None:
    made = {lock.container_name(n) for n in ("runner-ghcr.io/a/b", "runner-ghcr.io/a-b", "runner-x")}
    assert len(made) == 3
    assert all(n.startswith("claw-lock-") and "/" not in n for n in made)
    assert lock.container_name("runner-x") == "claw-lock-runner-x"


def test_a_live_holder_is_waited_for_and_named_until_it_lets_go(model: Model) -> None:
    theirs = held_by(model, elsewhere())
    waits: list[lock.Owner] = []
    threading.Timer(1.5, model.remove_container, args=(theirs,)).start()
    started = time.monotonic()
    with lock.hold(model, NAME, on_wait=waits.append, on_takeover=lambda *a: pytest.fail("took over")):
        waited = time.monotonic() - started
        assert theirs not in model.markers
    assert [w.host for w in waits] == ["host-b"], "told once whom it waits for"
    assert waited >= 1.0
    assert model.markers == {}


def test_a_cancelled_wait_stops_at_once_and_leaves_the_holders_lock(model: Model) -> None:
    theirs = held_by(model, elsewhere())
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Interrupted), lock.hold(model, NAME, cancel=cancel):
        pytest.fail("got a lock someone else holds")
    assert time.monotonic() - started < 1.5
    assert list(model.markers) == [theirs]


@pytest.mark.parametrize(
    ("owner", "why"),
    [
        (dead_here, "its process is gone"),
        (lambda: elsewhere(since=time.time() - lock.STALE_AFTER - 60), "it is older than 6 hours"),
    ],
    ids=["owner-gone", "older-than-the-bound"],
)
def test_a_stale_lock_is_taken_over_and_the_takeover_said(
    model: Model, owner: Callable[[], lock.Owner], why: str
) -> None:
    stale = owner()
    theirs = held_by(model, stale)
    taken: list[tuple[str, str]] = []
    with lock.hold(model, NAME, on_takeover=lambda o, w: taken.append((o.host, w))) as took_over:
        assert took_over
        assert theirs not in model.markers
        assert len(model.markers) == 1
    assert taken == [(stale.host, why)]
    assert model.markers == {}


def test_a_live_owner_elsewhere_is_never_provably_gone_however_its_pid_looks() -> None:
    assert not elsewhere(pid=4194304).gone()
    assert not dataclasses.replace(lock.Owner.me(), place="").gone()
    assert lock.Owner.me().gone() is False
    assert dead_here().gone()
    assert not lock.Owner.from_labels({}).gone(), "a lock without owner labels waits for the bound"


def test_a_holder_whose_lock_was_taken_over_removes_only_its_own(model: Model) -> None:
    with lock.hold(model, NAME):
        (mine,) = model.markers
        model.remove_container(mine)  # taken over by someone after the bound...
        theirs = held_by(model, elsewhere())  # ...who holds it now
    assert list(model.markers) == [theirs]


def test_refresh_and_rollback_hold_the_engine_lock(model: Model, tmp_path: Path) -> None:
    recipe = tmp_path / "openclaw.Dockerfile"
    recipe.write_text("FROM busybox\n")
    runner = runners.Runner("openclaw", "openclaw", "FROM busybox\n", recipe, ("openclaw", "--version"), 5)
    seen: list[int] = []
    real_tag = model.tag

    def tag(source: str, target: str) -> None:
        seen.append(len(model.markers))
        real_tag(source, target)

    model.tag = tag  # type: ignore[method-assign]
    for version in ("1.0.0", "2.0.0"):
        model.probe_output = f"OpenClaw {version}\n"
        assert bases.refresh(model, runner, Options(), Recorder()).status is Status.INSTALLED
    assert bases.rollback(model, runner, None, Options(), Recorder()).status is Status.ROLLED_BACK
    assert seen, "tags were made"
    assert set(seen) == {1}, "every tag made under the lock"
    assert model.markers == {}


def test_a_refresh_waiting_on_another_host_says_whom_it_waits_for(model: Model, tmp_path: Path) -> None:
    recipe = tmp_path / "openclaw.Dockerfile"
    recipe.write_text("FROM busybox\n")
    runner = runners.Runner("openclaw", "openclaw", "FROM busybox\n", recipe, ("openclaw", "--version"), 5)
    theirs = held_by(model, elsewhere())
    threading.Timer(1.2, model.remove_container, args=(theirs,)).start()
    events = Recorder()
    assert bases.refresh(model, runner, Options(), events).status is Status.INSTALLED
    (waiting,) = [text for text in events.of("progress") if text.startswith("waiting")]
    assert waiting.startswith("waiting: pid ")
    assert "on host-b (since " in waiting
    assert waiting.endswith("is refreshing this runner on this engine")


# --------------------------------------------------------------------------
# The docker calls, with docker's words (recorded from docker 28.2)
# --------------------------------------------------------------------------

HOLDER_ID = "37214e43a7fda7473600a2fe28f8ab820d0d47fb3ea3704839363d449c926861"
TAKEN = (
    'Error response from daemon: Conflict. The container name "/claw-lock-x" is already in use by '
    f'container "{HOLDER_ID}". You have to remove (or rename) that container to be able to reuse that name.\n'
)


def quick() -> Engine:
    return Engine(retry_wait=tenacity.wait_none())


def test_create_marker_says_who_holds_a_taken_name(fake: FakeDocker) -> None:
    fake.answer(["create"], stderr=TAKEN, code=1)
    assert quick().create_marker("claw-lock-x", lock.IMAGE, {"claw.lock": "x"}) == (False, HOLDER_ID)
    assert fake.args == [
        ["create", "--pull", "never", "--network", "none", "--name", "claw-lock-x",
         "--label", "claw.lock=x", "claw-lock:1"],
    ]  # fmt: skip


def test_create_marker_imports_the_empty_image_once_when_it_is_missing(fake: FakeDocker) -> None:
    fake.answer(["create"], stderr="Error response from daemon: No such image: claw-lock:1\n", code=1)
    fake.answer(["image", "import"], stdout="sha256:354d945fe84f\n")
    fake.answer(["create"], stdout=f"{HOLDER_ID}\n")
    assert quick().create_marker("claw-lock-x", lock.IMAGE, {}) == (True, HOLDER_ID)
    assert [call[:2] for call in fake.args] == [
        ["create", "--pull"],
        ["image", "import"],
        ["create", "--pull"],
    ]
    assert fake.args[1] == ["image", "import", "--change", 'CMD ["lock"]', "-", "claw-lock:1"]


def test_marker_labels_of_a_container_that_went_is_none(fake: FakeDocker) -> None:
    fake.answer(
        ["container", "inspect"],
        stderr=f"Error response from daemon: No such container: {HOLDER_ID}\n",
        code=1,
    )
    fake.answer(["container", "inspect"], stdout='{"claw.lock":"x","claw.lock.pid":"12"}\n')
    assert quick().marker_labels(HOLDER_ID) is None
    assert quick().marker_labels(HOLDER_ID) == {"claw.lock": "x", "claw.lock.pid": "12"}
