"""A stand-in ``docker`` (or ``docker-compose``) executable for choke-point tests.

It appends its argv (as JSON) to ``$FAKE_DOCKER_LOG`` and answers from the JSON
list in ``$FAKE_DOCKER_SCRIPT``: the first entry whose ``match`` is a prefix of
the argv (after the program name) is used and, unless it is ``sticky``,
consumed. An entry gives ``stdout``, ``stderr``, ``code``, ``sleep`` and ``signal`` (kill itself).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    argv = sys.argv[1:]
    with Path(os.environ["FAKE_DOCKER_LOG"]).open("a") as log:
        log.write(json.dumps([Path(sys.argv[0]).name, *argv]) + "\n")
    script_path = Path(os.environ["FAKE_DOCKER_SCRIPT"])
    script = json.loads(script_path.read_text())
    for index, entry in enumerate(script):
        if argv[: len(entry.get("match", []))] == entry.get("match", []):
            if not entry.get("sticky"):
                del script[index]
                script_path.write_text(json.dumps(script))
            time.sleep(entry.get("sleep", 0))
            if entry.get("signal"):
                os.kill(os.getpid(), int(entry["signal"]))
            sys.stdout.write(entry.get("stdout", ""))
            sys.stderr.write(entry.get("stderr", ""))
            return int(entry.get("code", 0))
    sys.stderr.write(f"fake docker: no scripted answer for {argv}\n")
    return 99


if __name__ == "__main__":
    sys.exit(main())
