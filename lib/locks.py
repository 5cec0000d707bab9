"""Host-level locks: refreshes of one runner alias are serialised on the host.

A lock is an ``flock`` on a file in a directory every user of this host can
reach (``$TMPDIR/claw-locks``, sticky like ``/tmp``), one file per Docker
endpoint and alias: two engines never block each other. The kernel releases
the lock when the process dies, so a killed ``claw pull`` never leaves a stale
lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ClawError, Interrupted

POLL = 0.2  # seconds between attempts while another process holds the lock


def directory() -> Path:
    return Path(tempfile.gettempdir()) / "claw-locks"


def path_for(name: str, where: str) -> Path:
    """The lock file of ``name`` for the engine ``where`` (``Engine.where``)."""
    key = hashlib.sha256(f"{where}\0{name}".encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)[:64]
    return directory() / f"{safe}-{key}.lock"


@dataclass
class Held:
    """A lock while it is held. ``abandoned``: the previous holder died holding it (its
    work may have left things half done); the file says so until a holder ends cleanly."""

    abandoned: bool


@contextlib.contextmanager
def hold_on_host(
    name: str,
    where: str,
    *,
    on_wait: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
    poll: float | None = None,
) -> Iterator[Held]:
    """Hold the host lock ``name`` of the engine ``where``; call ``on_wait`` once if
    someone else has it.

    Waiting polls (every ``poll`` seconds, ``POLL`` when not given), so a cancelled run
    (``cancel`` set) stops waiting at once. While held,
    the file holds the holder's pid; it is emptied when the holder ends, however it ends,
    except when it is killed: the next holder then finds it ``abandoned``."""
    stop = cancel or threading.Event()  # never set when nobody can cancel
    interval = POLL if poll is None else poll
    handle = _open(path_for(name, where))
    try:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if stop.wait(interval):
                    raise Interrupted() from None
        held = Held(abandoned=bool(os.pread(handle, 64, 0).strip()))
        _write(handle, f"{os.getpid()}\n")
        try:
            yield held
        finally:
            _write(handle, "")
    finally:
        os.close(handle)  # closing releases the lock


def abandoned(name: str, where: str) -> bool:
    """Whether the lock ``name`` was left by a holder that died (or is held right now):
    a cheap look that takes no lock, to know whether taking it is worth it."""
    try:
        return bool(path_for(name, where).read_text(encoding="utf-8", errors="replace").strip())
    except OSError:
        return False


def _write(handle: int, text: str) -> None:
    with contextlib.suppress(OSError):  # the lock still works without the note
        os.ftruncate(handle, 0)
        os.pwrite(handle, text.encode(), 0)


def _open(path: Path) -> int:
    try:
        with contextlib.suppress(FileExistsError):
            path.parent.mkdir()
            os.chmod(path.parent, 0o1777)  # noqa: S103 - shared like /tmp: one lock for every user
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise ClawError(f"cannot create the lock file {path}: {exc.strerror}") from None
    with contextlib.suppress(PermissionError):
        os.fchmod(handle, 0o666)  # any user of this host may take the same lock
    return handle
