"""A stand-in ``docker`` (or ``docker-compose``) executable for choke-point tests.

It appends its argv (as JSON) to ``$FAKE_DOCKER_LOG`` and answers from the JSON
list in ``$FAKE_DOCKER_SCRIPT``: the first entry whose ``match`` is a prefix of
the argv (after the program name) is used and, unless it is ``sticky``,
consumed. An entry gives ``stdout``, ``stderr``, ``code``, ``signal`` (kill itself),
``on_term``: the exit code to end with on SIGTERM, as `docker run` does when it hands the
signal to its container and exits with the container's status, and ``hold``: a name under
which the stand-in says it is held (``FakeDocker.wait_held``) and then waits, before it
answers, until the test releases that name (``FakeDocker.release``); a name never released
is a docker that never answers, until it is killed. The test learns that a call is running
from the marker, never from a delay.
Choosing and consuming an entry holds a lock, and the script is replaced whole, never
rewritten in place, so stand-ins may run side by side and be killed at any moment.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

HOLD_LIMIT = 600.0  # seconds a held stand-in waits for its release before it gives up
SAFETY = 60.0  # seconds the test side waits for a marker: only a bug takes this long


def main() -> int:
    argv = sys.argv[1:]
    log = Path(os.environ["FAKE_DOCKER_LOG"])
    with log.open("a") as calls:
        calls.write(json.dumps([Path(sys.argv[0]).name, *argv]) + "\n")
    entry = _take(argv, Path(os.environ["FAKE_DOCKER_SCRIPT"]))
    if entry is not None and "on_term" in entry:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(int(entry["on_term"])))
        with log.with_name(f"{log.name}.armed").open("a") as armed:  # FakeDocker.armed
            armed.write(f"{os.getpid()}\n")
    if entry is None:
        sys.stderr.write(f"fake docker: no scripted answer for {argv}\n")
        return 99
    if "hold" in entry and not _held(log, str(entry["hold"])):
        sys.stderr.write(f"fake docker: {entry['hold']} was never released\n")
        return 98
    if entry.get("signal"):
        os.kill(os.getpid(), int(entry["signal"]))
    sys.stdout.write(entry.get("stdout", ""))
    sys.stderr.write(entry.get("stderr", ""))
    return int(entry.get("code", 0))


def _held(log: Path, name: str) -> bool:
    """Say that this call is held under ``name``, and wait until the test releases it
    (False: not within ``HOLD_LIMIT``, a bound for a stand-in its test forgot)."""
    with log.with_name(f"{log.name}.held").open("a") as held:  # FakeDocker.held
        held.write(f"{name}\n")
    released = (log.with_name(f"{log.name}.release.{name}"), log.with_name(f"{log.name}.release-all"))
    deadline = time.monotonic() + HOLD_LIMIT
    while not any(path.exists() for path in released):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _take(argv: list[str], script_path: Path) -> dict[str, Any] | None:
    """The first entry matching ``argv``, consumed unless sticky (under the lock)."""
    with Path(f"{script_path}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        script: list[dict[str, Any]] = json.loads(script_path.read_text())
        for index, entry in enumerate(script):
            if argv[: len(entry.get("match", []))] == entry.get("match", []):
                if not entry.get("sticky"):
                    del script[index]
                    write_script(script_path, script)
                return entry
    return None


def write_script(script_path: Path, script: list[dict[str, Any]]) -> None:
    """Replace the script in one step: a reader sees the old list or the new one."""
    staging = script_path.with_name(f"{script_path.name}.{os.getpid()}")
    staging.write_text(json.dumps(script))
    os.replace(staging, script_path)


class FakeDocker:
    """The test's side of the stand-in: what to answer, and what was asked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.script = root / "script.json"
        self.log = root / "calls.jsonl"
        self.script.write_text("[]")

    def install(self, bin_dir: Path) -> dict[str, str]:
        """Put ``docker`` and ``docker-compose`` stand-ins in ``bin_dir``; the environment
        (beyond PATH) they need."""
        bin_dir.mkdir(exist_ok=True)
        for name in ("docker", "docker-compose"):
            exe = bin_dir / name
            exe.write_text(
                f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                "import fake_docker\nsys.exit(fake_docker.main())\n"
            )
            exe.chmod(0o755)
        return {"FAKE_DOCKER_SCRIPT": str(self.script), "FAKE_DOCKER_LOG": str(self.log)}

    def answer(self, match: list[str], *, sticky: bool = False, **reply: Any) -> None:
        with Path(f"{self.script}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            script = self.pending
            script.append({"match": match, "sticky": sticky, **reply})
            write_script(self.script, script)

    def replay(self, recording: dict[str, Any]) -> None:
        """Answer with a recording of real docker (``fixtures/docker/*.json``)."""
        self.answer(
            recording["argv"][1:],
            stdout=recording["stdout"],
            stderr=recording["stderr"],
            code=recording["code"],
        )

    @property
    def pending(self) -> list[dict[str, Any]]:
        """The answers not taken yet."""
        script: list[dict[str, Any]] = json.loads(self.script.read_text())
        return script

    @property
    def calls(self) -> list[list[str]]:
        """Every argv asked, program name first."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    @property
    def armed(self) -> int:
        """How many stand-ins have set their SIGTERM answer (``on_term``)."""
        armed = self.log.with_name(f"{self.log.name}.armed")
        return len(armed.read_text().split()) if armed.exists() else 0

    @property
    def held(self) -> list[str]:
        """The names of the calls held so far (``hold``), in the order they were held."""
        held = self.log.with_name(f"{self.log.name}.held")
        return held.read_text().split() if held.exists() else []

    def wait_held(self, *names: str, timeout: float = SAFETY) -> None:
        """Wait until the calls held under ``names`` are all running and held; fails with
        what was asked past ``timeout`` (a safety net)."""
        deadline = time.monotonic() + timeout
        while not set(names) <= set(self.held):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not held within {timeout:g}s: {sorted(set(names) - set(self.held))}; "
                    f"calls {self.calls}; answers not taken {self.pending}"
                )
            time.sleep(0.01)

    def release(self, name: str = "") -> None:
        """Let the call held under ``name`` answer (every held call, without a name)."""
        suffix = f"release.{name}" if name else "release-all"
        self.log.with_name(f"{self.log.name}.{suffix}").touch()

    @property
    def args(self) -> list[list[str]]:
        """Every argv asked, without the program name."""
        return [call[1:] for call in self.calls]


if __name__ == "__main__":
    sys.exit(main())
