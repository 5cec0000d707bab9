"""Children: the child processes of one claw command, and how they are stopped."""

from __future__ import annotations

import contextlib
import signal
from typing import Any

import pytest
import sh

from lib import lifecycle
from lib.engine.process import Children


def test_a_ctrl_c_that_lands_while_a_child_starts_stops_that_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signal arrives inside sh's start of the child, before claw holds the child:
    the child must still be stopped, not left running after claw has gone."""
    children = Children()
    sleep = children.program("sleep")
    started: list[sh.RunningCommand] = []

    def starting(*args: Any, **kwargs: Any) -> sh.RunningCommand:
        started.append(sleep(*args, **kwargs))
        signal.raise_signal(signal.SIGINT)
        return started[-1]

    monkeypatch.setitem(children._programs, "sleep", starting)
    with lifecycle.installed(), pytest.raises(KeyboardInterrupt):
        children.run(["sleep", "600"])
    (child,) = started
    try:
        with contextlib.suppress(sh.ErrorReturnCode, sh.SignalException, sh.TimeoutException):
            child.wait(timeout=60)  # a safety net: a stopped child ends at once
        assert not child.process.is_alive()[0], "the child outlived the interruption"
    finally:
        with contextlib.suppress(Exception):
            child.kill()
