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
import ipaddress
import json
import os
import re
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

    def enter(self, *argv: str) -> list[str]:
        """argv that runs a command inside all the engine's namespaces (net, mount, pid):
        it sees the engine's mounts, and it dies with the namespace, as the engine's own
        processes do. For daemons started next to the engine (see ``add_engine``)."""
        init = _child_of(self.unshare_pid)
        if init is None:
            raise EngineUnavailable(f"the engine's namespace (unshare {self.unshare_pid}) is gone")
        return ["nsenter", f"--target={init}", "--net", "--mount", "--pid", "--", *argv]


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
    for added in [entry.engine for entry in _added.values() if entry.engine.root.parent == root]:
        stop_engine(added, kill=True)  # no need to stop its containers one by one: all goes
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
# More engines in the same namespaces
# --------------------------------------------------------------------------

ADDED_SLOTS = range(200, 216)  # 10.N.0.0/16 per added engine: its bridge and its networks' pool
_RESERVED = {"data", "exec", "client", "registry"}  # the first engine's own entries under its root


@dataclass
class _Added:
    engine: Engine
    process: subprocess.Popen[bytes]  # nsenter; its only child is the dockerd
    slot: int


_added: dict[Path, _Added] = {}  # by the added engine's root; reaped by stop_engine()


def add_engine(engine: Engine, name: str) -> Engine:
    """Start another dockerd next to ``engine``, for tests where claw talks to two engines.

    It lives in the same namespaces (so it pulls from the same registry, at the same
    address, and dies with them) with its own data root, exec root and socket under
    ``engine.root / name``. Its containers get a bridge of their own, and its networks
    a pool, in a 10.N.0.0/16 that docker0 does not use. It leaves iptables to the first
    engine (a second dockerd managing them would flush the first one's chains); one rule
    of ours lets its containers reach each other past the first one's FORWARD policy
    (DROP). Stop it with ``stop_engine``."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or name in _RESERVED:
        raise ValueError(f"not a name for an added engine: {name!r}")
    root = engine.root / name
    if root in _added:
        raise ValueError(f"an engine named {name!r} is already running next to {engine.root}")
    added = Engine(root, engine.registry, engine.unshare_pid)
    (root / "client").mkdir(parents=True, exist_ok=True)
    slot = _free_slot(engine, root / "slot")  # the same one again on a restart, if free
    (root / "slot").write_text(str(slot))
    bridge, own = f"claw{slot}", f"10.{slot}.0.0/16"
    for command in (
        ["ip", "link", "add", bridge, "type", "bridge"],
        ["ip", "addr", "add", f"10.{slot}.0.1/24", "dev", bridge],
        ["ip", "link", "set", bridge, "up"],
        ["iptables", "-I", "FORWARD", "-s", own, "-d", own, "-j", "ACCEPT"],
    ):
        made = subprocess.run(engine.nsenter(*command), check=False, capture_output=True, text=True)
        if made.returncode != 0:
            raise EngineUnavailable(f"{' '.join(command)}: {made.stderr.strip()}")
    argv = engine.enter(
        "dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
        "--host", added.host, "--pidfile", str(root / "dockerd.pid"), "--log-level", "warn",
        "--bridge", bridge, "--iptables=false", "--ip-masq=false",
        "--default-address-pool", f"base=10.{slot}.128.0/17,size=24",
    )  # fmt: skip
    with (root / "dockerd.log").open("ab") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    _added[root] = _Added(added, process, slot)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_engine(added)
            raise EngineUnavailable(f"the added engine {name!r} exited ({process.returncode}): {_tail(root)}")
        if _answers(added):
            return added
        time.sleep(0.2)
    stop_engine(added)
    raise EngineUnavailable(f"the added engine {name!r} did not answer in {START_TIMEOUT:g}s: {_tail(root)}")


def stop_engine(added: Engine, *, kill: bool = False) -> None:
    """Stop an engine from ``add_engine`` and wait until its socket no longer answers.

    ``kill`` makes it a crash (SIGKILL: its socket file stays behind, refusing);
    otherwise it shuts down as dockerd does on SIGTERM, stopping its containers
    (which takes a while for those that ignore SIGTERM). Its data stays, so
    ``add_engine`` with the same name starts it again. Safe to repeat."""
    entry = _added.pop(added.root, None)
    if entry is None:
        return
    daemon = _child_of(entry.process.pid)
    if daemon is not None:
        _signal(daemon, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        entry.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        if daemon is not None:
            _signal(daemon, signal.SIGKILL)
        entry.process.wait(5)
    deadline = time.monotonic() + 5
    while _listening(added.root / "docker.sock") and time.monotonic() < deadline:
        time.sleep(0.05)
    if _child_of(added.unshare_pid) is None:  # the namespace is gone, and all of this with it
        return
    own = f"10.{entry.slot}.0.0/16"
    for link in _links_in(added, ipaddress.ip_network(own)):  # its bridge and its networks' bridges
        subprocess.run(added.nsenter("ip", "link", "del", link), check=False, capture_output=True)
    rule = ["iptables", "-D", "FORWARD", "-s", own, "-d", own, "-j", "ACCEPT"]
    subprocess.run(added.nsenter(*rule), check=False, capture_output=True)


def _free_slot(engine: Engine, recorded: Path) -> int:
    """A 10.N.0.0/16 that no interface in the namespace has an address in (docker0 and the
    first engine's networks are in 172.16/12 and 192.168/16), preferring the recorded one."""
    preferred = [int(recorded.read_text())] if recorded.exists() else []
    for slot in [*preferred, *ADDED_SLOTS]:
        if not _links_in(engine, ipaddress.ip_network(f"10.{slot}.0.0/16")):
            return slot
    raise EngineUnavailable(f"every 10.N.0.0/16 for N in {ADDED_SLOTS} is taken in the engine's namespace")


def _links_in(engine: Engine, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """The interfaces in the engine's namespace with an address in ``network``."""
    shown = subprocess.run(
        engine.nsenter("ip", "-json", "-4", "addr", "show"), check=True, capture_output=True, text=True
    )
    return [
        link["ifname"]
        for link in json.loads(shown.stdout)
        if any(
            ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network.overlaps(network)
            for info in link.get("addr_info", [])
        )
    ]


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


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
    scratch = root / f".{READY}"
    scratch.write_text(json.dumps({"registry_port": port}))
    os.replace(scratch, root / READY)  # whole or absent: the test side reads it as it appears
    while not stopping and all(child.poll() is None for child in children):
        _reap_orphans({child.pid for child in children})
        time.sleep(0.2)
    for child in reversed(children):  # dockerd first: it stops its containers
        child.terminate()
        try:
            child.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()


def _reap_orphans(own: set[int]) -> None:
    """As PID 1, reap the processes whose parents died first (container shims, ssh sessions),
    which would stay zombies until the namespace ends."""
    me = os.getpid()
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{me}/task/{me}/children").read_text().split():
            if int(child) not in own:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(int(child), os.WNOHANG)


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
