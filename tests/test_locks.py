from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib import locks
from lib.errors import Interrupted

HERE = "context:default"  # the engine's name for its host locks (Engine.where)
HOLDER = """
import sys, time
from lib import locks
with locks.hold(sys.argv[1], "context:default"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@pytest.fixture(autouse=True)
def _private_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)


@contextlib.contextmanager
def held_elsewhere(name: str, seconds: float, *, kill: bool = True) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the lock ``name`` for ``seconds`` (killed on exit unless told not to)."""
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, name, str(seconds)], cwd=root, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        try:
            yield proc
        finally:
            if kill:
                proc.kill()
            proc.wait()


def test_a_second_holder_waits_and_says_so_once() -> None:
    waits: list[float] = []
    with held_elsewhere("runner-openclaw", 1.0, kill=False):
        started = time.monotonic()
        with locks.hold("runner-openclaw", HERE, on_wait=lambda: waits.append(time.monotonic())):
            waited = time.monotonic() - started
    assert len(waits) == 1
    assert waited > 0.5


def test_different_names_and_endpoints_do_not_block() -> None:
    with held_elsewhere("runner-openclaw", 60.0):
        with locks.hold("runner-nanobot", HERE, on_wait=lambda: pytest.fail("waited for another alias")):
            pass
        with locks.hold(
            "runner-openclaw",
            "unix:///elsewhere.sock",
            on_wait=lambda: pytest.fail("waited for another engine"),
        ):
            pass


def test_a_killed_holder_releases_the_lock() -> None:
    with held_elsewhere("runner-openclaw", 60.0):
        pass  # killed on leaving
    with locks.hold(
        "runner-openclaw", HERE, on_wait=lambda: pytest.fail("a dead process still held the lock")
    ):
        pass


def test_cancel_stops_the_wait() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with (
        held_elsewhere("runner-openclaw", 60.0),
        pytest.raises(Interrupted),
        locks.hold("runner-openclaw", HERE, cancel=cancel),
    ):
        pytest.fail("got a lock someone else holds")


def test_lock_files_are_shared_by_every_user() -> None:
    with locks.hold("runner-openclaw", HERE):
        path = locks.path_for("runner-openclaw", HERE)
        assert path.stat().st_mode & 0o777 == 0o666
        assert path.parent.stat().st_mode & 0o1777 == 0o1777


def test_a_holder_killed_with_the_lock_leaves_it_abandoned() -> None:
    assert not locks.abandoned("runner-x", HERE)
    with held_elsewhere("runner-x", 30) as proc:  # killed (SIGKILL) while holding it
        assert locks.abandoned("runner-x", HERE)  # held right now: worth a look
    assert proc.returncode == -9
    assert locks.abandoned("runner-x", HERE)
    with locks.hold("runner-x", HERE) as held:
        assert held.abandoned
    assert not locks.abandoned("runner-x", HERE)  # this holder ended cleanly
    with locks.hold("runner-x", HERE) as held:
        assert not held.abandoned


def test_a_holder_that_ends_with_an_error_leaves_it_clean() -> None:
    with pytest.raises(Interrupted), locks.hold("runner-y", HERE):
        raise Interrupted()
    assert not locks.abandoned("runner-y", HERE)
