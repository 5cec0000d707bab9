"""A ``docker`` in front of the real one that holds one matching call until released.

``install(directory)`` writes the executable; put it first on PATH. Like
``shim.py`` it appends each argv to ``$CLAW_SHIM_LOG`` (when set). The first call
whose argv matches the shell pattern ``$CLAW_HOLD`` waits before it runs docker:
it writes its pid to ``$CLAW_HOLD_DIR/held`` (the test's marker: the call has
been made and is waiting) and goes on only once ``$CLAW_HOLD_DIR/released``
exists. Later matching calls, and every other call, run at once.

The test learns that the call is held from the marker, never from a delay, and
chooses the moment the call goes on (``Hold.release``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCRIPT = """#!/bin/sh
if [ -n "$CLAW_SHIM_LOG" ]; then printf '%s\\n' "$*" >> "$CLAW_SHIM_LOG"; fi
if [ -n "$CLAW_HOLD" ] && [ -n "$CLAW_HOLD_DIR" ]; then
  case "$*" in
    $CLAW_HOLD)
      if mkdir "$CLAW_HOLD_DIR/taken" 2>/dev/null; then
        printf '%s\\n' "$$" > "$CLAW_HOLD_DIR/held.tmp"
        mv "$CLAW_HOLD_DIR/held.tmp" "$CLAW_HOLD_DIR/held"
        while [ ! -e "$CLAW_HOLD_DIR/released" ]; do sleep 0.05; done
      fi ;;
  esac
fi
exec REAL "$@"
"""


class NotHeld(AssertionError):
    """The call to hold never came (the process ended first, or the safety net ran out)."""


@dataclass(frozen=True)
class Hold:
    """One held call: where its marker appears, and how to let it go on."""

    dir: Path
    pattern: str

    def env(self, log: Path) -> dict[str, str]:
        """What the environment of the program under test needs (besides PATH)."""
        return {"CLAW_SHIM_LOG": str(log), "CLAW_HOLD": self.pattern, "CLAW_HOLD_DIR": str(self.dir)}

    def wait(self, alive: Callable[[], str | None], timeout: float = 120) -> int:
        """Wait until the call is held; its pid. ``alive`` returns None while the program
        under test runs, else what to show (it ended without making the call)."""
        marker, deadline = self.dir / "held", time.monotonic() + timeout
        while not marker.exists():
            ended = alive()
            if ended is not None:
                raise NotHeld(f"no call matching {self.pattern!r} was made:\n{ended}")
            if time.monotonic() > deadline:
                raise NotHeld(f"no call matching {self.pattern!r} within {timeout:g}s (a safety net)")
            time.sleep(0.05)
        return int(marker.read_text())

    def holding(self) -> bool:
        """The held call is still waiting (its process is alive and not released)."""
        pid = int((self.dir / "held").read_text())
        return not (self.dir / "released").exists() and process_alive(pid)

    def release(self) -> None:
        (self.dir / "released").touch()


def install(directory: Path, pattern: str) -> tuple[Path, Hold]:
    """Write the holding ``docker`` under ``directory``; (its folder for PATH, the hold)."""
    real = shutil.which("docker")
    if real is None:
        raise RuntimeError("docker is not on PATH")
    folder, state = directory / "bin", directory / "state"
    folder.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    script = folder / "docker"
    script.write_text(SCRIPT.replace("REAL", real))
    script.chmod(0o755)
    return folder, Hold(state, pattern)


def process_alive(pid: int) -> bool:
    """``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def group_members(pgid: int) -> list[str]:
    """The live processes of process group ``pgid``, as ``pid command`` lines."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(f"{entry.name} {_command(int(entry.name))}")
    return found


def _command(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        ).strip()
    except OSError:
        return "?"


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ['PATH']}"
