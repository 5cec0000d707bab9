"""The life of the claw process: how Ctrl-C and SIGTERM become one interruption, a
Ctrl-C that lands where Python would lose it, the crash log, and the quick exit.

Signals belong to the whole process, so this is the one module whose state is the
process's: ``installed()`` sets the handlers for one command and puts back what was
there before. Ctrl-C and SIGTERM both raise ``KeyboardInterrupt`` in the main thread,
except inside ``shielded()``: there the interruption waits until the block ends, so
that a child being started is known (and can be stopped) before claw unwinds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any


class _Shield:
    """Whether the main thread is inside ``shielded()``, and an interruption waits."""

    depth = 0
    pending = False


_SHIELD = _Shield()


def interrupt(signum: int, frame: FrameType | None) -> None:
    """The handler of Ctrl-C and SIGTERM."""
    if _within(frame, unraisable):  # raised here it would be lost again: once the hook is left
        deliver_later()
        return
    if _SHIELD.depth:
        _SHIELD.pending = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold an interruption that lands in the block until the block ends, then raise it.

    Only the main thread is ever interrupted; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _SHIELD.depth += 1
    try:
        yield
    finally:
        _SHIELD.depth -= 1
        if not _SHIELD.depth and _SHIELD.pending:
            _SHIELD.pending = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Ctrl-C, SIGTERM and lost interruptions handled as above, for one command."""
    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sys.unraisablehook = sys.__unraisablehook__
        _SHIELD.pending = False


def unraisable(unraisable: Any) -> None:
    """A Ctrl-C (or SIGTERM) that lands in a finalizer or a weakref callback cannot
    propagate there: Python would print it and lose it. It is delivered again instead,
    to be raised where claw can act on it."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        deliver_later()
        return
    sys.__unraisablehook__(unraisable)


def deliver_later() -> None:
    """Interrupt the main thread again a moment from now. Should that land while it is
    still in ``unraisable`` (a busy machine), ``interrupt`` delivers it later again."""
    import _thread

    timer = threading.Timer(0.05, _thread.interrupt_main)
    timer.daemon = True
    timer.start()


def _within(frame: FrameType | None, function: Any) -> bool:
    """Whether ``function`` is running in ``frame`` or one of its callers."""
    while frame is not None:
        if frame.f_code is function.__code__:
            return True
        frame = frame.f_back
    return False


def crash_log(text: str) -> Path:
    """Write a traceback where an operator can find it; return the path."""
    import datetime
    import tempfile

    from .files import state_dir

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    name = f"crash-{stamp}-{os.getpid()}.log"
    for directory in (state_dir(), Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text, encoding="utf-8")
            return directory / name
        except OSError:
            continue
    return Path(tempfile.gettempdir()) / name


def exit_quickly(code: int) -> None:
    """Leave once the work is done: everything alive now is frozen out of the garbage
    collector, whose last full pass over every object at exit took 60-100 ms (sh's
    imports alone bring thousands of objects). Only that pass is skipped: objects freed
    by reference counting at exit are finalized as ever, and claw has closed its files,
    locks and children before it gets here."""
    import gc

    gc.freeze()
    sys.exit(code)
