"""A lock that lives on the engine, for everyone who drives it, from any host (SPEC §11).

The lock ``NAME`` is a container named ``claw-lock-NAME`` that is created, never
started: ``docker create`` of a name that is taken fails atomically, so exactly one
creator holds it. Its labels name the owner (host, pid, start time, since when). It
is removed by its ID when the work ends, so a holder never removes another's lock.

A lock left by an owner that crashed is taken over when the owner is provably gone
(it ran in this host's kernel and pid namespace, and that process no longer exists)
or when it is older than ``STALE_AFTER``, the stated bound. The takeover removes the
stale container by its ID and creates a fresh one; two takers race fairly on that
create. The container needs an image: a tiny empty one, imported on first use.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClawError, Interrupted

if TYPE_CHECKING:
    from .docker import Engine

PREFIX = "claw-lock-"
IMAGE = "claw-lock:1"  # an empty image, imported once per engine; the container never runs
LABEL = "claw.lock"  # holds the lock's name; the owner's facts are in claw.lock.*
STALE_AFTER = 6 * 3600.0  # seconds: a lock older than this is taken over, whoever holds it
POLL = 1.0  # seconds between attempts while someone else holds it (each is one docker call)


@dataclass(frozen=True)
class Owner:
    """Who holds a lock: enough to name them, and to prove they are gone."""

    host: str  # the host name, for people
    pid: int
    started: str  # the process's start time in clock ticks since boot (pid reuse)
    place: str  # this kernel's boot and pid namespace: where ``pid`` means this process
    since: float  # seconds since the epoch, when the lock was taken

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), _start_ticks(os.getpid()), _place(), time.time())

    def labels(self, name: str) -> dict[str, str]:
        return {
            LABEL: name,
            f"{LABEL}.host": self.host,
            f"{LABEL}.pid": str(self.pid),
            f"{LABEL}.started": self.started,
            f"{LABEL}.place": self.place,
            f"{LABEL}.since": f"{self.since:.3f}",
        }

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner:
        """The owner a lock container names (fields it lacks read as unknown)."""

        def number(key: str) -> float:
            try:
                return float(labels.get(f"{LABEL}.{key}", ""))
            except ValueError:
                return 0.0

        return cls(
            labels.get(f"{LABEL}.host", "an unknown host"),
            int(number("pid")),
            labels.get(f"{LABEL}.started", ""),
            labels.get(f"{LABEL}.place", ""),
            number("since"),
        )

    def gone(self) -> bool:
        """Provably gone: it ran here (same kernel boot, same pid namespace) and its
        process is no longer there. Another host's owner is never provably gone."""
        if not self.place or self.place != _place() or self.pid <= 0:
            return False
        return _start_ticks(self.pid) != self.started

    def stale(self, now: float) -> bool:
        return now - self.since > STALE_AFTER

    def describe(self) -> str:
        since = datetime.datetime.fromtimestamp(self.since, datetime.timezone.utc)
        return f"pid {self.pid} on {self.host} (since {since:%Y-%m-%d %H:%M:%S} UTC)"


def container_name(name: str) -> str:
    """``claw-lock-<name>``, legal as a container name whatever ``name`` holds."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:64]
    if safe == name:
        return PREFIX + name
    return f"{PREFIX}{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def hold_on_engine(
    engine: Engine,
    name: str,
    *,
    on_wait: Callable[[Owner], None] | None = None,
    on_takeover: Callable[[Owner, str], None] | None = None,
    cancel: threading.Event | None = None,
    poll: float | None = None,
) -> Iterator[bool]:
    """Hold the engine lock ``name``; yields whether a stale lock was taken over (its
    owner's work may be half done). ``on_wait`` is told whom we wait for, again when
    the holder changes; ``on_takeover`` whom we took over from, and why. While a live
    owner holds it, it is tried again every ``poll`` seconds (``POLL`` when not given)."""
    stop = cancel or threading.Event()
    interval = POLL if poll is None else poll
    me, target = Owner.me(), container_name(name)
    took_over, told = False, None
    while True:
        created, found = engine.create_marker(target, IMAGE, me.labels(name))
        if created:
            break
        holder = engine.marker_labels(found)
        if holder is None:  # released between our create and our look: try again at once
            continue
        owner = Owner.from_labels(holder)
        why = _why_stale(owner)
        if why:
            if on_takeover is not None:
                on_takeover(owner, why)
            engine.remove_container(found)  # by ID: a newer holder's lock is never removed
            took_over = True
            continue
        if told != found and on_wait is not None:
            on_wait(owner)
        told = found
        if stop.wait(interval):
            raise Interrupted()
    try:
        yield took_over
    finally:
        with contextlib.suppress(ClawError):  # unreachable now: the bound or the pid frees it
            engine.remove_container(found)  # ours, by ID: if it was taken over, not theirs


def _why_stale(owner: Owner) -> str:
    """Why ``owner``'s lock may be taken over, or "" when it may not."""
    if owner.gone():
        return "its process is gone"
    if owner.stale(time.time()):
        return f"it is older than {STALE_AFTER / 3600:g} hours"
    return ""


@cache
def _place() -> str:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""  # no /proc: never claim an owner is gone


def _start_ticks(pid: int) -> str:
    """Field 22 of ``/proc/PID/stat`` (after the parenthesised name); "" if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return stat.rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""
