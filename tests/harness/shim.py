"""A shim in front of the real ``docker``: records every call, can fail one on purpose,
and can hold one until the test releases it.

``install(directory)`` writes an executable ``docker`` there; put the directory
first on PATH. The shim appends its argv to ``$CLAW_SHIM_LOG`` (when set) and,
when its argv matches the shell pattern ``$CLAW_SHIM_FAIL``, prints
``$CLAW_SHIM_MESSAGE`` on stderr and exits 1 instead of running docker.

When its argv matches ``$CLAW_SHIM_HOLD``, the call is held: it writes its argv to
``$CLAW_SHIM_HOLD_DIR/held.<pid>`` (the marker the test waits for) and waits until
``$CLAW_SHIM_HOLD_DIR/released`` exists, before running the real docker or, with
``CLAW_SHIM_HOLD_WHEN=after``, after it (docker's work done, its exit not yet seen).
A held call that claw stops (SIGTERM) ends there. ``Hold`` is the test's side.
Everything else goes to the real docker, untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.harness.waiting import TIMEOUT, wait_for

SCRIPT = """#!/bin/sh
if [ -n "$CLAW_SHIM_LOG" ]; then printf '%s\\n' "$*" >> "$CLAW_SHIM_LOG"; fi
if [ -n "$CLAW_SHIM_FAIL" ]; then
  case "$*" in
    $CLAW_SHIM_FAIL) printf '%s\\n' "${CLAW_SHIM_MESSAGE:-injected failure}" >&2; exit 1 ;;
  esac
fi
held() {
  printf '%s\\n' "$*" > "$CLAW_SHIM_HOLD_DIR/.held.$$"
  mv "$CLAW_SHIM_HOLD_DIR/.held.$$" "$CLAW_SHIM_HOLD_DIR/held.$$"
  while [ ! -e "$CLAW_SHIM_HOLD_DIR/released" ]; do sleep 0.02; done
}
if [ -n "$CLAW_SHIM_HOLD" ]; then
  case "$*" in
    $CLAW_SHIM_HOLD)
      if [ "$CLAW_SHIM_HOLD_WHEN" = after ]; then
        REAL "$@"
        status=$?
        held "$@"
        exit "$status"
      fi
      held "$@" ;;
  esac
fi
exec REAL "$@"
"""


def install(directory: Path) -> Path:
    real = shutil.which("docker")
    if real is None:
        raise RuntimeError("docker is not on PATH")
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "docker"
    scratch = directory / ".docker"
    scratch.write_text(SCRIPT.replace("REAL", real))
    scratch.chmod(0o755)
    os.replace(scratch, shim)
    return directory


@dataclass(frozen=True)
class Hold:
    """The test's side of a hold: which calls are held, and their release."""

    directory: Path
    pattern: str
    after: bool = False

    def env(self) -> dict[str, str]:
        """The shim's settings for this hold."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return {
            "CLAW_SHIM_HOLD": self.pattern,
            "CLAW_SHIM_HOLD_DIR": str(self.directory),
            "CLAW_SHIM_HOLD_WHEN": "after" if self.after else "before",
        }

    def held(self) -> list[str]:
        """The argv of each call that reached the hold so far."""
        return [path.read_text().rstrip("\n") for path in sorted(self.directory.glob("held.*"))]

    def wait(
        self, count: int = 1, *, timeout: float = TIMEOUT, describe: str | Callable[[], str] = "",
        alive: subprocess.Popen[str] | None = None,
    ) -> None:  # fmt: skip
        """Until ``count`` calls are held (``describe`` and ``alive`` as in ``wait_for``)."""

        def held() -> bool:
            return len(self.held()) >= count

        wait_for(held, timeout, describe, alive=alive)

    def release(self) -> None:
        """Let every held call (and every later matching one) go on."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "released").touch()
