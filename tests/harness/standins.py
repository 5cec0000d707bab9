"""Stand-ins for the world outside: an npm registry, PyPI's JSON API and git over smart HTTP.

One HTTP server answers
    GET /<package>                 the npm registry (scoped names as /@scope%2fname)
    GET /pypi/<project>/json       PyPI's JSON API
    GET|POST /git/<repo>.git/...   git smart HTTP, served by the real `git http-backend`
and, as a proxy, absolute-form requests (answered as if addressed to it) and CONNECT
(logged and refused with 502: it cannot speak TLS for another host).

Everything it serves lives in one directory: ``state.json`` (packages and faults),
``git/`` (bare repositories) and ``requests.log`` (one line per request, written on
arrival: ``GET /openclaw ok``). The server reads ``state.json`` at every request, so
a test changes what it serves by rewriting that file (``StandIns`` does), also when
the server runs in another network namespace. Faults are keyed ``npm:<package>``,
``pypi:<project>``, ``git:<repo>``.

    python -m tests.harness.standins --directory DIR --port-file F [--host H] [--port N]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import flaky

STATE, LOG, REPOS = "state.json", "requests.log", "git"
_REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _normalise(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


def _json_body(document: object) -> bytes:
    return json.dumps(document).encode()


# The server


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], directory: Path) -> None:
        self.directory = directory
        self.used: dict[int, int] = {}  # fault id -> answers it gave
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def state(self) -> dict[str, Any]:
        path = self.directory / STATE
        return json.loads(path.read_text()) if path.exists() else {}

    def fault(self, key: str) -> dict[str, Any] | None:
        """The fault planned for ``key``, if it has answers left (counted here)."""
        fault = self.state().get("faults", {}).get(key)
        if fault is None:
            return None
        with self.lock:
            used = self.used.get(fault["id"], 0)
            if fault.get("times") is not None and used >= fault["times"]:
                return None
            self.used[fault["id"]] = used + 1
        return dict(fault)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (a timeout, an interrupted test) is not the server's problem


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _log(self, outcome: str) -> None:
        with (self.server.directory / LOG).open("a") as out:
            out.write(f"{self.command} {self.path} {outcome}\n")

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_CONNECT(self) -> None:
        self._log("refused")
        self.close_connection = True
        self._send(502, b"", "text/plain")

    def _handle(self) -> None:
        target = urllib.parse.urlsplit(self.path)
        proxied = f" via-proxy {target.netloc}" if target.scheme else ""
        path, query = target.path, target.query
        key = self._key(path)
        fault = self.server.fault(key) if key else None
        self._log(_outcome(fault) + proxied)
        if fault and fault.get("delay") and self.server.stopping.wait(fault["delay"]):
            self.close_connection = True
            return
        if fault and (fault.get("status") or fault.get("body") is not None):
            self.close_connection = True  # a request body may be left unread
            body = (fault.get("body") or "").encode()
            self._send(fault.get("status") or 200, body, "text/html" if body else "text/plain")
        elif key.startswith("git:"):
            self._git(path[len("/git") :], query)
        elif key.startswith("pypi:"):
            self._pypi(key[len("pypi:") :])
        elif key.startswith("npm:"):
            self._npm(key[len("npm:") :])
        else:
            self._send(404, _json_body({"error": "Not found"}))

    do_GET = do_HEAD = do_POST = _handle

    @staticmethod
    def _key(path: str) -> str:
        if match := re.fullmatch(r"/pypi/([^/]+)/json/?", path):
            return f"pypi:{urllib.parse.unquote(match[1])}"
        if match := re.match(r"/git/([^/]+?)(?:\.git)?(?:/|$)", path):
            return f"git:{match[1]}"
        name = urllib.parse.unquote(path[1:])
        return f"npm:{name}" if name and not name.startswith("-/") else ""

    def _npm(self, package: str) -> None:
        known = self.server.state().get("npm", {}).get(package)
        if known is None:
            self._send(404, _json_body({"error": "Not found"}))
            return
        base = f"http://{self.headers.get('Host', 'localhost')}/{package.replace('/', '%2f')}/-"
        tail = package.rsplit("/", 1)[-1]
        versions = {
            v: {"name": package, "version": v, "dist": {"tarball": f"{base}/{tail}-{v}.tgz"}}
            for v in known["versions"]
        }
        document = {"_id": package, "name": package, "dist-tags": {"latest": known["latest"]}}
        self._send(
            200, _json_body({**document, "versions": versions, "modified": "2026-01-01T00:00:00.000Z"})
        )

    def _pypi(self, project: str) -> None:
        projects = self.server.state().get("pypi", {})
        known = next((v for k, v in projects.items() if _normalise(k) == _normalise(project)), None)
        if known is None:
            self._send(404, _json_body({"message": "Not Found"}))
            return
        info = {"name": project, "version": known["latest"], "summary": "", "requires_python": None}
        releases: dict[str, list[object]] = {v: [] for v in known["versions"]}
        self._send(200, _json_body({"info": info, "last_serial": 1, "releases": releases, "urls": []}))

    def _git(self, path_info: str, query: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            **_git_env(self.server.directory),
            "GIT_PROJECT_ROOT": str(self.server.directory / REPOS),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        for header in ("Git-Protocol", "Content-Encoding"):
            if self.headers.get(header):
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)
        self._cgi(done.stdout)

    def _cgi(self, output: bytes) -> None:
        """Relay a CGI answer: header lines, a blank line, the body; ``Status:`` sets the code."""
        for separator in (b"\r\n\r\n", b"\n\n"):
            head, found, body = output.partition(separator)
            if found:
                break
        else:
            self._send(502, b"git http-backend gave no CGI headers", "text/plain")
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "status":
                status = int(value.split()[0])
            elif name.strip():
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _outcome(fault: dict[str, Any] | None) -> str:
    if fault is None:
        return "ok"
    words = ["slow"] if fault.get("delay") else []
    words += [str(fault["status"])] if fault.get("status") else []
    words += ["garbage"] if fault.get("body") is not None else []
    return "+".join(words) or "ok"


def _git_env(directory: Path) -> dict[str, str]:
    """A clean environment for git: no user or system config, a fixed identity."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": "*",
        "GIT_AUTHOR_NAME": "Stand In",
        "GIT_AUTHOR_EMAIL": "standin@example.invalid",
        "GIT_COMMITTER_NAME": "Stand In",
        "GIT_COMMITTER_EMAIL": "standin@example.invalid",
    }


# The test's side: state, repositories, starting and stopping


@dataclass
class Repo:
    """A bare repository the stand-in serves at ``url``."""

    path: Path
    url: str

    def git(self, *argv: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *argv],
            env=_git_env(self.path.parent.parent), capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    def sha(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")

    def commit(self, branch: str = "main") -> str:
        """A new (empty-tree) commit on ``branch``, created if missing; returns its sha."""
        tree = self.git("hash-object", "-t", "tree", "-w", "/dev/null")
        parent = subprocess.run(
            ["git", "-C", str(self.path), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            env=_git_env(self.path.parent.parent), capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        parents = ["-p", parent] if parent else []
        sha = self.git("commit-tree", tree, *parents, "-m", f"{branch} at {time.time_ns()}")
        self.git("update-ref", f"refs/heads/{branch}", sha)
        return sha

    def tag(self, name: str, target: str, *, annotated: bool = True) -> None:
        if annotated:
            self.git("tag", "--force", "--annotate", "--message", name, name, target)
        else:
            self.git("update-ref", f"refs/tags/{name}", target)

    def head(self, branch: str) -> None:
        """Point HEAD (the remote's default branch) at ``branch``."""
        self.git("symbolic-ref", "HEAD", f"refs/heads/{branch}")


@dataclass
class StandIns:
    url: str  # http://host:port, as seen from where the server runs
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    _stop: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def _change(self, change: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            path = self.directory / STATE
            state = json.loads(path.read_text())
            change(state)
            scratch = path.with_suffix(".tmp")
            scratch.write_text(json.dumps(state, indent=1))
            os.replace(scratch, path)

    def _release(self, kind: str, name: str, version: str) -> None:
        def change(state: dict[str, Any]) -> None:
            known = state.setdefault(kind, {}).setdefault(name, {"latest": version, "versions": []})
            known["latest"] = version
            if version not in known["versions"]:
                known["versions"].append(version)

        self._change(change)

    def npm(self, package: str, version: str) -> None:
        """Publish ``version`` of an npm package and make it ``dist-tags.latest``."""
        self._release("npm", package, version)

    def pypi(self, project: str, version: str) -> None:
        """Publish ``version`` of a PyPI project (``info.version``)."""
        self._release("pypi", project, version)

    def forget(self, key: str) -> None:
        """Remove ``npm:<package>`` or ``pypi:<project>``: it answers 404 from now on."""
        kind, _, name = key.partition(":")
        self._change(lambda state: state.get(kind, {}).pop(name, None))

    def fault(
        self, key: str, *, status: int | None = None, body: str | None = None,
        delay: float = 0.0, times: int | None = None,
    ) -> None:  # fmt: skip
        """Answer ``key`` with ``status`` and/or ``body`` (garbage), after ``delay`` seconds,
        for the next ``times`` requests (None: until healed), then normally again."""

        def change(state: dict[str, Any]) -> None:
            state["serial"] = state.get("serial", 0) + 1
            plan = {"id": state["serial"], "status": status, "body": body, "delay": delay, "times": times}
            state.setdefault("faults", {})[key] = plan

        self._change(change)

    def heal(self, key: str) -> None:
        self._change(lambda state: state.get("faults", {}).pop(key, None))

    def repo(self, name: str) -> Repo:
        """The bare repository ``name`` (created empty, HEAD -> main, if new)."""
        if not _REPO_NAME.fullmatch(name):
            raise ValueError(f"bad repository name {name!r}")
        path = self.directory / REPOS / f"{name}.git"
        if not path.exists():
            subprocess.run(
                ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)],
                env=_git_env(self.directory), check=True,
            )  # fmt: skip
        return Repo(path, f"{self.url}/git/{name}.git")

    def requests(self) -> list[str]:
        log = self.directory / LOG
        return log.read_text().splitlines() if log.exists() else []

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
        if self.process is not None:
            flaky.end(self.process)


def _prepare(directory: Path) -> None:
    (directory / REPOS).mkdir(parents=True, exist_ok=True)
    if not (directory / STATE).exists():
        (directory / STATE).write_text("{}")


def serve(directory: Path, host: str = "127.0.0.1") -> StandIns:
    """Start the stand-ins in this process, on a free port of ``host``."""
    _prepare(directory)
    server = _Server((host, 0), directory)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="standins", daemon=True)
    thread.start()

    def stop() -> None:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()

    return StandIns(f"http://{host}:{server.server_address[1]}", directory, _stop=stop)


def start(nsenter: list[str], directory: Path, host: str = "127.0.0.1") -> StandIns:
    """Start the stand-ins as a process under ``nsenter`` (e.g. ``engine.nsenter()``: the
    engine's network namespace); ``url`` is the address as seen inside it."""
    _prepare(directory)
    port_file = directory / "port"
    port_file.unlink(missing_ok=True)
    root = str(Path(__file__).resolve().parents[2])
    argv = [*nsenter, sys.executable, "-m", "tests.harness.standins",
            "--directory", str(directory), "--port-file", str(port_file), "--host", host]  # fmt: skip
    process = subprocess.Popen(argv, cwd=root, env={**os.environ, "PYTHONPATH": root})
    deadline = time.monotonic() + 10
    while not port_file.exists() or not port_file.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError("the stand-ins did not start")
        time.sleep(0.05)
    return StandIns(f"http://{host}:{port_file.read_text()}", directory, process=process)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    _prepare(args.directory)
    server = _Server((args.host, args.port), args.directory)
    scratch = args.port_file.with_suffix(".tmp")
    scratch.write_text(str(server.server_address[1]))
    os.replace(scratch, args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
