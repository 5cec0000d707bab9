"""A shim in front of the real ``docker``: records every call, can fail one on purpose.

``install(directory)`` writes an executable ``docker`` there; put the directory
first on PATH. The shim appends its argv to ``$CLAW_SHIM_LOG`` (when set) and,
when its argv matches the shell pattern ``$CLAW_SHIM_FAIL``, prints
``$CLAW_SHIM_MESSAGE`` on stderr and exits 1 instead of running docker.
Everything else goes to the real docker, untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SCRIPT = """#!/bin/sh
if [ -n "$CLAW_SHIM_LOG" ]; then printf '%s\\n' "$*" >> "$CLAW_SHIM_LOG"; fi
if [ -n "$CLAW_SHIM_FAIL" ]; then
  case "$*" in
    $CLAW_SHIM_FAIL) printf '%s\\n' "${CLAW_SHIM_MESSAGE:-injected failure}" >&2; exit 1 ;;
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
    shim.write_text(SCRIPT.replace("REAL", real))
    shim.chmod(0o755)
    return directory
