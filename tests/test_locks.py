from __future__ import annotations

import contextlib
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lib import locks
from lib.errors import Interrupted
from tests.harness.waiting import safety_net

HERE = "context:default"  # the engine's name for its host locks (Engine.where)
SAFETY = 60.0  # seconds: only a lock bug keeps a test waiting this long
HOLDER = """
import sys
from lib import locks
with locks.hold_on_host(sys.argv[1], "context:default"):
    print("held", flush=True)
    sys.stdin.readline()  # until the test says so, or its end closes the pipe
print("let go", flush=True)
"""


@pytest.fixture(autouse=True)
def _private_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)


class Holder:
    """Another process holding a lock until it is told to let go."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def line(self) -> str:
        """The holder's next line; fails, never hangs, if it says nothing."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], SAFETY)
        assert ready, f"the holder said nothing in {SAFETY:g} s"
        return self.proc.stdout.readline().strip()

    def let_go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("let go\n")
        self.proc.stdin.flush()


@contextlib.contextmanager
def held_elsewhere(name: str, *, kill: bool = True) -> Iterator[Holder]:
    """Another process holds the lock ``name`` until told to let go (killed on exit
    unless told not to)."""
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, name],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        holder = Holder(proc)
        try:
            assert holder.line() == "held"
            yield holder
        finally:
            if kill:
                proc.kill()
            proc.wait(SAFETY)


class Polls(threading.Event):
    """A cancel event that counts the lock's polls and calls ``on_poll`` with each count."""

    def __init__(self, on_poll: Callable[[int], None]) -> None:
        super().__init__()
        self.count = 0
        self.on_poll = on_poll

    def wait(self, timeout: float | None = None) -> bool:
        self.count += 1
        self.on_poll(self.count)
        return super().wait(timeout)


def test_a_second_holder_waits_and_says_so_once() -> None:
    """Told once that it waits however many times it tries, and the lock is its own
    only once the holder has let go."""
    seen: list[str] = []
    with held_elsewhere("runner-openclaw", kill=False) as holder:

        def poll(count: int) -> None:
            if count == 3:
                seen.append("third try: told to let go")
                holder.let_go()

        cancel = Polls(poll)
        with safety_net(cancel.set):
            try:
                with locks.hold_on_host(
                    "runner-openclaw", HERE, on_wait=lambda: seen.append("waiting"), cancel=cancel, poll=0.01
                ):
                    seen.append("acquired")
                    assert holder.line() == "let go"
            except Interrupted:
                pytest.fail(f"no lock {SAFETY:g} s after the holder was told to let go; saw {seen}")
    assert seen == ["waiting", "third try: told to let go", "acquired"]
    assert holder.proc.returncode == 0


def test_different_names_and_endpoints_do_not_block() -> None:
    with held_elsewhere("runner-openclaw"):
        with locks.hold_on_host(
            "runner-nanobot", HERE, on_wait=lambda: pytest.fail("waited for another alias")
        ):
            pass
        with locks.hold_on_host(
            "runner-openclaw",
            "unix:///elsewhere.sock",
            on_wait=lambda: pytest.fail("waited for another engine"),
        ):
            pass


def test_a_killed_holder_releases_the_lock() -> None:
    with held_elsewhere("runner-openclaw"):
        pass  # killed on leaving
    with locks.hold_on_host(
        "runner-openclaw", HERE, on_wait=lambda: pytest.fail("a dead process still held the lock")
    ):
        pass


def test_cancel_stops_the_wait() -> None:
    """Cancelled while it waits, it stops without waiting out its poll (an hour here)."""
    cancel = threading.Event()
    seen: list[str] = []

    def waiting() -> None:
        seen.append("waiting")
        cancel.set()

    started = time.monotonic()
    with held_elsewhere("runner-openclaw") as holder:
        # a wait that ignored the cancel gets the lock once the holder goes, and fails below
        with (
            safety_net(holder.let_go),
            pytest.raises(Interrupted),
            locks.hold_on_host("runner-openclaw", HERE, on_wait=waiting, cancel=cancel, poll=3600),
        ):
            pytest.fail("got a lock someone else holds")
        assert holder.proc.poll() is None, "the holder still holds it"
    assert time.monotonic() - started < SAFETY, "the cancel ended the wait, not the poll"
    assert seen == ["waiting"]


def test_lock_files_are_shared_by_every_user() -> None:
    with locks.hold_on_host("runner-openclaw", HERE):
        path = locks.path_for("runner-openclaw", HERE)
        assert path.stat().st_mode & 0o777 == 0o666
        assert path.parent.stat().st_mode & 0o1777 == 0o1777


def test_a_holder_killed_with_the_lock_leaves_it_abandoned() -> None:
    assert not locks.abandoned("runner-x", HERE)
    with held_elsewhere("runner-x") as holder:  # killed (SIGKILL) while holding it
        assert locks.abandoned("runner-x", HERE)  # held right now: worth a look
    assert holder.proc.returncode == -9
    assert locks.abandoned("runner-x", HERE)
    with locks.hold_on_host("runner-x", HERE) as held:
        assert held.abandoned
    assert not locks.abandoned("runner-x", HERE)  # this holder ended cleanly
    with locks.hold_on_host("runner-x", HERE) as held:
        assert not held.abandoned


def test_a_holder_that_ends_with_an_error_leaves_it_clean() -> None:
    with pytest.raises(Interrupted), locks.hold_on_host("runner-y", HERE):
        raise Interrupted()
    assert not locks.abandoned("runner-y", HERE)
