"""An OpenSSH server inside the private engine's namespaces: a docker host at ``ssh://``.

The docker CLI reaches an ``ssh://root@127.0.0.1:PORT`` host by running ``ssh``
from PATH, which runs ``docker system dial-stdio`` on the far side; that CLI
finds the private engine through ``DOCKER_HOST``, which this server sets for
every session. Everything is private to one directory: the host key, the
client key, the server's and the client's configuration, known_hosts, the pid
file and the log. The client never reads or writes ``~/.ssh``: the ``bin``
directory holds an ``ssh`` that runs the real one with the private
configuration, and goes first on PATH. sshd listens on 127.0.0.1 inside the
engine's network namespace only, and dies with the namespace.

scripts/bootstrap.sh installs openssh-server (``make test`` runs it). sshd
needs its privilege separation directory (``/run/sshd``), which only its
service creates. When it is missing, sshd runs in a mount
namespace of its own (inside the engine's) with a fresh tmpfs on /run holding
it, so that nothing is created on the host.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.engine import Engine

PACKAGE = "openssh-server"
SSHD = Path("/usr/sbin/sshd")  # sshd re-executes itself, so it must be run by its absolute path
SSH = Path("/usr/bin/ssh")
PROGRAMS = ("ssh-keygen", "unshare", "mount")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
PRIVATE_RUN = (  # sshd's privilege separation directory, without touching the host's /run
    "if [ ! -d /run/sshd ]; then"
    " mount -t tmpfs -o mode=0755 sshd-run /run && mkdir -m 0755 /run/sshd"
    ' && echo "claw harness: /run/sshd is a private tmpfs" >&2; fi; exec "$@"'
)


class SshdUnavailable(RuntimeError):
    """This machine cannot run the test ssh server (and why)."""


@dataclass
class Sshd:
    url: str  # ssh://root@127.0.0.1:PORT: a docker host, inside the engine's network namespace
    bin: Path  # put it first on PATH: its ssh uses only the keys and known_hosts of this server
    port: int
    dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)  # nsenter; its only child is sshd

    def stop(self) -> None:
        """Stop sshd and every session it started (a connection in use breaks). Safe to repeat."""
        if self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _descendants(self.process.pid):  # sshd, its sessions and what they run
                _signal(pid, sig)
            try:
                self.process.wait(STOP_TIMEOUT)
                return
            except subprocess.TimeoutExpired:
                continue


def missing() -> str | None:
    """Why the server cannot start here, or None."""
    if not SSHD.exists():
        return f"{SSHD} is missing: install the Debian package {PACKAGE} (scripts/bootstrap.sh does)"
    if not SSH.exists():
        return f"{SSH} is missing: install the Debian package openssh-client"
    if absent := [name for name in PROGRAMS if shutil.which(name) is None]:
        return f"missing programs: {', '.join(absent)}"
    return None


def start(engine: Engine, directory: Path) -> Sshd:
    """Start sshd in ``engine``'s namespaces; its sessions' docker talks to ``engine``.

    ``engine`` may be one from ``add_engine``: it shares the namespaces of the first."""
    if reason := missing():
        raise SshdUnavailable(reason)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("sshd.pid", "host_key", "host_key.pub", "client_key", "client_key.pub"):
        (directory / stale).unlink(missing_ok=True)
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"claw-test-{key}", "-f", str(directory / key)],
            check=True, capture_output=True,
        )  # fmt: skip
    port = _free_port(engine)
    (directory / "remote" / "docker-config").mkdir(parents=True, exist_ok=True)
    (directory / "authorized_keys").write_text((directory / "client_key.pub").read_text())
    host_key = (directory / "host_key.pub").read_text().split()
    (directory / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (directory / "sshd_config").write_text(_server_config(directory, port, engine))
    (directory / "ssh_config").write_text(_client_config(directory))
    wrapper = directory / "bin" / "ssh"
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(
        "#!/bin/sh\n# ssh with the test server's private keys and configuration only (never ~/.ssh)\n"
        f'exec {SSH} -F {shlex.quote(str(directory / "ssh_config"))} "$@"\n'
    )
    wrapper.chmod(0o755)
    argv = engine.enter(
        "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", PRIVATE_RUN, "sh",
        str(SSHD), "-D", "-f", str(directory / "sshd_config"), "-E", str(directory / "sshd.log"),
    )  # fmt: skip
    with (directory / "sshd.log").open("ab") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    server = Sshd(f"ssh://root@127.0.0.1:{port}", wrapper.parent, port, directory, process)
    _wait_ready(server, engine)
    return server


def _wait_ready(server: Sshd, engine: Engine) -> None:
    """sshd writes its pid file once it listens; then one real login proves keys and config."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SshdUnavailable(f"sshd exited ({server.process.returncode}): {_tail(server.dir)}")
        if (server.dir / "sshd.pid").exists():
            login = subprocess.run(
                engine.nsenter(str(server.bin / "ssh"), "-p", str(server.port), "root@127.0.0.1", "true"),
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT, check=False,
            )  # fmt: skip
            if login.returncode == 0:
                return
            server.stop()
            raise SshdUnavailable(
                f"ssh to the test sshd failed: {login.stderr.strip()} | {_tail(server.dir)}"
            )
        time.sleep(0.05)
    server.stop()
    raise SshdUnavailable(f"sshd did not start in {START_TIMEOUT:g}s: {_tail(server.dir)}")


def _server_config(directory: Path, port: int, engine: Engine) -> str:
    remote = {  # and a HOME of its own: root's ~/.bashrc runs in every session, slows it, may print
        "DOCKER_HOST": engine.host,
        "DOCKER_CONFIG": str(directory / "remote" / "docker-config"),
        "HOME": str(directory / "remote"),
    }
    return "".join(
        f"{line}\n"
        for line in (
            f"ListenAddress 127.0.0.1:{port}",
            f'HostKey "{directory / "host_key"}"',
            f'PidFile "{directory / "sshd.pid"}"',
            f'AuthorizedKeysFile "{directory / "authorized_keys"}"',
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",  # the keys live in a temporary directory
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "LogLevel VERBOSE",
            "SetEnv " + " ".join(f'"{key}={value}"' for key, value in remote.items()),
        )
    )


def _client_config(directory: Path) -> str:
    return "".join(
        f"{line}\n"
        for line in (
            "Host *",
            f'    IdentityFile "{directory / "client_key"}"',
            "    IdentitiesOnly yes",
            "    IdentityAgent none",
            f'    UserKnownHostsFile "{directory / "known_hosts"}"',
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    UpdateHostKeys no",
            "    BatchMode yes",
            "    LogLevel ERROR",
        )
    )


def _free_port(engine: Engine) -> int:
    """A port free on 127.0.0.1 inside the engine's network namespace (not the host's)."""
    probe = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
    found = subprocess.run(
        engine.nsenter(sys.executable, "-c", probe), capture_output=True, text=True, check=True
    )
    return int(found.stdout)


def _tail(directory: Path) -> str:
    log = directory / "sshd.log"
    return " | ".join(log.read_text(errors="replace").splitlines()[-5:]) if log.exists() else ""


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
