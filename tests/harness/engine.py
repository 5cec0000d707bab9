"""A private Docker engine and registry, for the tests and the demo.

``dockerd`` and ``docker-registry`` run inside namespaces of their own, made
with ``unshare --net --mount --pid --fork``: their own network (so the engine
gets its own ``docker0`` and the host's bridge is never touched), their own
mounts (overlay mounts vanish with the namespace) and their own PIDs (when the
namespace's first process dies, the kernel ends every process in it, so nothing
outlives a killed test run). The engine's data root, exec root and socket live
in a fresh temporary directory; the tests reach it through ``DOCKER_HOST``.

Usage as a script (the demo uses this):
    python tests/harness/engine.py start DIR    # prints KEY=VALUE lines
    python tests/harness/engine.py stop DIR
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

READY = "ready.json"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PROGRAMS = ("dockerd", "docker-registry", "docker", "unshare", "nsenter", "ip", "busybox")
_started: dict[Path, subprocess.Popen[bytes]] = {}  # reaped by stop()


class EngineUnavailable(RuntimeError):
    """This machine cannot run the private engine (and why)."""


@dataclass(frozen=True)
class Engine:
    root: Path
    registry: str  # host:port, as the engine and anything inside the namespace see it
    unshare_pid: int  # its network namespace is the engine's: nsenter --net=/proc/PID/ns/net

    @property
    def host(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    @property
    def env(self) -> dict[str, str]:
        """What a docker client needs to talk to this engine and nothing else."""
        return {"DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.root / "client")}

    def nsenter(self, *argv: str) -> list[str]:
        """argv that runs a command inside the engine's network namespace."""
        return ["nsenter", f"--net=/proc/{self.unshare_pid}/ns/net", "--", *argv]


def missing_programs() -> list[str]:
    return [name for name in PROGRAMS if shutil.which(name) is None]


def start(root: Path | None = None) -> Engine:
    if os.geteuid() != 0:
        raise EngineUnavailable("the private engine needs root (namespaces, dockerd)")
    if missing := missing_programs():
        raise EngineUnavailable(f"missing programs: {', '.join(missing)} (run scripts/bootstrap.sh)")
    root = Path(tempfile.mkdtemp(prefix="claw-eng-")) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    (root / "client").mkdir(exist_ok=True)
    with (root / "namespace.log").open("ab") as log:
        proc = subprocess.Popen(
            ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child",
             sys.executable, str(Path(__file__).resolve()), "_inside", str(root)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    _started[root] = proc
    (root / "unshare.pid").write_text(str(proc.pid))
    return _wait_ready(root, proc)


def _wait_ready(root: Path, proc: subprocess.Popen[bytes]) -> Engine:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineUnavailable(f"the engine namespace exited ({proc.returncode}): {_tail(root)}")
        ready = root / READY
        if ready.exists():
            port = json.loads(ready.read_text())["registry_port"]
            engine = Engine(root, f"127.0.0.1:{port}", proc.pid)
            if _answers(engine):
                return engine
        time.sleep(0.2)
    stop(root)
    raise EngineUnavailable(f"the engine did not become ready in {START_TIMEOUT:g}s: {_tail(root)}")


def _answers(engine: Engine) -> bool:
    probe = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env={**os.environ, **engine.env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return probe.returncode == 0


def _tail(root: Path) -> str:
    lines: list[str] = []
    for name in ("namespace.log", "dockerd.log", "registry.log"):
        path = root / name
        if path.exists():
            lines += path.read_text(errors="replace").splitlines()[-5:]
    return " | ".join(lines)


def stop(root: Path) -> None:
    """Stop everything started for ``root`` and remove ``root``. Safe to repeat."""
    pid_file = root / "unshare.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        init = _child_of(pid)
        for target in (init, pid):
            if target is not None:
                _signal(target, signal.SIGTERM)
        _wait_gone(pid, STOP_TIMEOUT)
        for target in (init, pid):
            if target is not None:
                _signal(target, signal.SIGKILL)
        _wait_gone(pid, 5)
    _started.pop(root, None)
    shutil.rmtree(root, ignore_errors=True)


def _child_of(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, seconds: float) -> None:
    owned = next((proc for proc in _started.values() if proc.pid == pid), None)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if owned is not None and owned.poll() is not None:
            return
        if owned is None and not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)


# --------------------------------------------------------------------------
# Inside the namespaces (PID 1 there)
# --------------------------------------------------------------------------


def _inside(root: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (root / "registry.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'registry'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    children = [
        _spawn(root, "registry.log", ["docker-registry", "serve", str(root / "registry.yml")]),
        _spawn(root, "dockerd.log", [
            "dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
            "--host", f"unix://{root / 'docker.sock'}", "--pidfile", str(root / "dockerd.pid"),
            "--log-level", "warn",
        ]),
    ]  # fmt: skip
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    (root / READY).write_text(json.dumps({"registry_port": port}))
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in reversed(children):  # dockerd first: it stops its containers
        child.terminate()
        try:
            child.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()


def _spawn(root: Path, log: str, argv: list[str]) -> subprocess.Popen[bytes]:
    with (root / log).open("ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "_inside":
        _inside(Path(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "start":
        engine = start(Path(argv[1]))
        for key, value in {**engine.env, "CLAW_TEST_REGISTRY": engine.registry}.items():
            print(f"{key}={value}")
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        stop(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
