"""The lock on the engine (SPEC §11): who holds it, waiting for a live holder, taking
over from a dead or too old one, and never removing another holder's lock; then the
two docker calls it stands on, against the stand-in docker with docker's own words."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import tenacity

from lib import bases, runners, transaction
from lib.engine import lock
from lib.engine.docker import Engine
from lib.errors import Interrupted
from lib.policy import Options
from lib.status import Status
from tests.harness.fake_docker import FakeDocker
from tests.harness.model import Model
from tests.harness.recorder import Recorder
from tests.harness.waiting import safety_net

NAME = "runner-openclaw"


SAFETY = 60.0  # seconds: only a lock bug keeps a test waiting this long


@pytest.fixture
def model(private_state: Path) -> Model:
    return Model()  # removes a container by name or by ID, as docker does


def held_by(model: Model, owner: lock.Owner) -> str:
    """Someone else's lock container on the model engine; its ID."""
    created, cid = model.create_marker(lock.container_name(NAME), lock.IMAGE, owner.labels(NAME))
    assert created
    return cid


def elsewhere(**changes: Any) -> lock.Owner:
    """A live owner on another host."""
    return dataclasses.replace(
        lock.Owner.me(), **{"host": "host-b", "place": "another-boot/pid:[1]", **changes}
    )


def dead_here() -> lock.Owner:
    """An owner on this host whose process has ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return dataclasses.replace(lock.Owner.me(), pid=int(ended.stdout), started="1")


def test_the_lock_is_a_container_named_for_it_removed_when_done(model: Model) -> None:
    with lock.hold_on_engine(model, NAME) as took_over:
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
    """Told whom it waits for once per holder however many times it tries, and the
    lock is claw's only after the last holder let go."""
    theirs = held_by(model, elsewhere())
    seen: list[str] = []
    attempts = 0
    create = model.create_marker

    def attempt(name: str, image: str, labels: Mapping[str, str]) -> tuple[bool, str]:
        nonlocal attempts, theirs
        attempts += 1
        if attempts == 3:  # host-b lets go, and host-c takes it first
            model.remove_container(theirs)
            _, theirs = create(lock.container_name(NAME), lock.IMAGE, elsewhere(host="host-c").labels(NAME))
            seen.append("host-b let go, host-c took it")
        if attempts == 4:
            model.remove_container(theirs)
            seen.append("host-c let go")
        return create(name, image, labels)

    model.create_marker = attempt  # type: ignore[method-assign]
    cancel = threading.Event()
    with safety_net(cancel.set):
        try:
            with lock.hold_on_engine(
                model,
                NAME,
                on_wait=lambda owner: seen.append(f"waiting for {owner.host}"),
                on_takeover=lambda *_: pytest.fail("took over a live holder's lock"),
                cancel=cancel,
                poll=0.01,
            ):
                seen.append("acquired")
                ((_, labels),) = model.markers.values()
                assert lock.Owner.from_labels(labels).host == lock.Owner.me().host
        except Interrupted:
            pytest.fail(f"no lock {SAFETY:g} s after its holders let go; saw {seen}")
    assert seen == [
        "waiting for host-b",
        "host-b let go, host-c took it",
        "waiting for host-c",
        "host-c let go",
        "acquired",
    ]
    assert attempts == 4, "tried again while host-b held it, without saying so again"
    assert model.markers == {}


def test_a_cancelled_wait_stops_at_once_and_leaves_the_holders_lock(model: Model) -> None:
    """Cancelled while it waits, it stops without waiting out its poll (an hour here)."""
    theirs = held_by(model, elsewhere())
    cancel = threading.Event()
    seen: list[str] = []

    def waiting(owner: lock.Owner) -> None:
        seen.append(f"waiting for {owner.host}")
        cancel.set()

    started = time.monotonic()
    # a wait that ignored the cancel gets the lock once the holder goes, and fails below
    with (
        safety_net(lambda: model.remove_container(theirs)),
        pytest.raises(Interrupted),
        lock.hold_on_engine(model, NAME, on_wait=waiting, cancel=cancel, poll=3600),
    ):
        pytest.fail("got a lock someone else holds")
    assert time.monotonic() - started < SAFETY, "the cancel ended the wait, not the poll"
    assert seen == ["waiting for host-b"]
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
    with lock.hold_on_engine(model, NAME, on_takeover=lambda o, w: taken.append((o.host, w))) as took_over:
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
    """Its lock taken over (past the bound) and the name now another claw's: releasing
    removes its own container by ID, never the new owner's of the same name."""
    with lock.hold_on_engine(model, NAME):
        (mine,) = model.markers
        model.remove_container(mine)  # taken over by someone after the bound...
        theirs = held_by(model, elsewhere())  # ...who holds it now, under the same name
        assert mine not in model.markers
        assert model.markers[theirs][0] == lock.container_name(NAME)
    assert list(model.markers) == [theirs], "the new owner's lock is still there"


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
        assert transaction.refresh(model, runner, Options(), Recorder()).status is Status.INSTALLED
    assert bases.rollback(model, runner, None, Options(), Recorder()).status is Status.ROLLED_BACK
    assert seen, "tags were made"
    assert set(seen) == {1}, "every tag made under the lock"
    assert model.markers == {}


def test_a_refresh_waiting_on_another_host_says_whom_it_waits_for(
    model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = tmp_path / "openclaw.Dockerfile"
    recipe.write_text("FROM busybox\n")
    runner = runners.Runner("openclaw", "openclaw", "FROM busybox\n", recipe, ("openclaw", "--version"), 5)
    theirs = held_by(model, elsewhere())
    monkeypatch.setattr(lock, "POLL", 0.01)

    def told(kind: str, name: str, text: str) -> None:
        if text.startswith("waiting"):  # said whom it waits for: host-b lets go
            model.remove_container(theirs)

    events = Recorder(on_event=told)
    options = Options()
    with safety_net(options.cancel.set):
        assert transaction.refresh(model, runner, options, events).status is Status.INSTALLED
    (waiting,) = [text for text in events.of("progress") if text.startswith("waiting")]
    assert waiting.startswith("waiting: pid ")
    assert "on host-b (since " in waiting
    said, _, fix = waiting.partition(" is refreshing this runner on this engine (")
    assert said.startswith("waiting: pid ")
    assert re.fullmatch(
        r"\d+m so far; if that host is gone for good: docker rm --force claw-lock-runner-openclaw\)", fix
    )
    assert model.markers == {}


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


def test_the_release_removes_the_lock_container_by_its_id(fake: FakeDocker) -> None:
    """By ID, never by name: the name may be another claw's by then."""
    mine = "9c0f3f6d2b8e41aa" * 4
    fake.answer(["create"], stdout=f"{mine}\n")
    fake.answer(["rm", "--force"])
    with lock.hold_on_engine(quick(), NAME):
        pass
    assert fake.args[-1] == ["rm", "--force", mine]
    assert not fake.pending
