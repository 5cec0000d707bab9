"""Waiting for a moment: a condition polled until it holds, never a fixed delay.

A test that must act at a moment (signal claw while it tags, kill an engine while it
builds) makes the moment last (a stand-in holds the step until released) and waits
for the stand-in's marker with ``wait_for``. The timeout is only a safety net: when it
expires, or the process the test watches ends first, the test fails with ``describe``.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

POLL = 0.02  # seconds between two looks at the condition
TIMEOUT = 120.0  # the safety net: far beyond any step a test waits for, even on a busy machine
# The safety net of a child process that a unit test starts and waits for (a Python, a
# script). `make test` runs the other Pythons' unit tests at the lowest priority until its
# main run ends: beside busy processes, one start of pytest with two workers took over 120 s
# there. Below the per-test timeout, so that the failure names the command.
CHILD = 540.0


def wait_for(
    condition: Path | Callable[[], object],
    timeout: float = TIMEOUT,
    describe: str | Callable[[], str] = "",
    *,
    alive: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
) -> None:
    """Return as soon as ``condition`` (a path that must exist, or a predicate) holds.

    Fails (AssertionError, with ``describe``: text, or a function that gives the watched
    process's output) past ``timeout`` seconds, or at once when ``alive`` has ended."""
    check: Callable[[], object] = condition.exists if isinstance(condition, Path) else condition
    deadline = time.monotonic() + timeout
    while not check():
        what = describe() if callable(describe) else describe
        name = str(condition) if isinstance(condition, Path) else getattr(condition, "__name__", "condition")
        if alive is not None and alive.poll() is not None:
            if check():  # it came true as the process ended
                return
            raise AssertionError(f"the process ended ({alive.returncode}) before {name}: {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not come in {timeout:g}s: {what}")
        time.sleep(POLL)


@contextlib.contextmanager
def safety_net(action: Callable[[], None], seconds: float = 60.0) -> Iterator[None]:
    """Run ``action`` (cancel a wait, release a holder) if the block is still running after
    ``seconds``, so that a bug ends the wait and the test fails instead of hanging the run."""
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
