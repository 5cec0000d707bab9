"""A stand-in ``docker`` (or ``docker-compose``) executable for choke-point tests.

It appends its argv (as JSON) to ``$FAKE_DOCKER_LOG`` and answers from the JSON
list in ``$FAKE_DOCKER_SCRIPT``: the first entry whose ``match`` is a prefix of
the argv (after the program name) is used and, unless it is ``sticky``,
consumed. An entry gives ``stdout``, ``stderr``, ``code``, ``sleep`` and ``signal`` (kill itself).
Choosing and consuming an entry holds a lock, so stand-ins may run side by side.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    argv = sys.argv[1:]
    with Path(os.environ["FAKE_DOCKER_LOG"]).open("a") as log:
        log.write(json.dumps([Path(sys.argv[0]).name, *argv]) + "\n")
    entry = _take(argv, Path(os.environ["FAKE_DOCKER_SCRIPT"]))
    if entry is None:
        sys.stderr.write(f"fake docker: no scripted answer for {argv}\n")
        return 99
    time.sleep(entry.get("sleep", 0))
    if entry.get("signal"):
        os.kill(os.getpid(), int(entry["signal"]))
    sys.stdout.write(entry.get("stdout", ""))
    sys.stderr.write(entry.get("stderr", ""))
    return int(entry.get("code", 0))


def _take(argv: list[str], script_path: Path) -> dict[str, Any] | None:
    """The first entry matching ``argv``, consumed unless sticky (under the lock)."""
    with Path(f"{script_path}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        script: list[dict[str, Any]] = json.loads(script_path.read_text())
        for index, entry in enumerate(script):
            if argv[: len(entry.get("match", []))] == entry.get("match", []):
                if not entry.get("sticky"):
                    del script[index]
                    script_path.write_text(json.dumps(script))
                return entry
    return None


if __name__ == "__main__":
    sys.exit(main())
