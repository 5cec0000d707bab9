"""Stand-ins for the world outside: an npm registry, PyPI's JSON API and git over smart HTTP.

One HTTP server answers
    GET /<package>                 the npm registry (scoped names as /@scope%2fname)
    GET /<package>/<version>       one version's document (or a dist-tag's), 404 when unknown
    GET /pypi/<project>/json       PyPI's JSON API
    GET|POST /git/<repo>.git/...   git smart HTTP, served by the real `git http-backend`
    GET /gate/<name>               ``open``: a step of a test (a build's RUN, say) that the
                                   test holds with ``hold("gate:<name>")``
and, as a proxy, absolute-form requests (answered as if addressed to it) and CONNECT
(logged and refused with 502: it cannot speak TLS for another host).

Everything it serves lives in one directory: ``state.json`` (packages and faults),
``git/`` (bare repositories) and ``requests.log`` (one line per request, written on
arrival: ``GET /openclaw ok``). The server reads ``state.json`` at every request, so
a test changes what it serves by rewriting that file (``StandIns`` does), also when
the server runs in another network namespace. Faults are keyed ``npm:<package>``,
``pypi:<project>``, ``git:<repo>``, ``gate:<name>``.

A fault may hold its answers (``StandIns.hold``): a held request writes a marker
``holds/<fault>.<n>`` when it arrives (the test waits for it, see ``Held``) and gets
its answer only when the test releases it (``holds/<fault>.released``), or after the
hold's limit, a safety net that lets nothing hang for ever.

    python -m tests.harness.standins --directory DIR --port-file F [--host H] [--port N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
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
from tests.harness.waiting import TIMEOUT, wait_for

STATE, LOG, REPOS, HOLDS = "state.json", "requests.log", "git", "holds"
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
        """The fault planned for ``key``, if it has answers left (counted here); ``n`` is
        which of its answers this is (1, 2, ...)."""
        fault = self.state().get("faults", {}).get(key)
        if fault is None:
            return None
        with self.lock:
            used = self.used.get(fault["id"], 0)
            if fault.get("times") is not None and used >= fault["times"]:
                return None
            self.used[fault["id"]] = used + 1
        return {**fault, "n": used + 1}

    def hold(self, fault: dict[str, Any]) -> bool:
        """Say that this request is held, and wait for its release (or the hold's limit);
        False when the server is stopping."""
        holds = self.directory / HOLDS
        holds.mkdir(exist_ok=True)
        (holds / f"{fault['id']}.{fault['n']}").touch()
        released = holds / f"{fault['id']}.released"
        deadline = time.monotonic() + fault["hold"]
        while not released.exists() and time.monotonic() < deadline:
            if self.stopping.wait(0.02):
                return False
        return True

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
        if fault and fault.get("hold") and not self.server.hold(fault):
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
            self._npm(key[len("npm:") :], _npm_rest(path))
        elif key.startswith("gate:"):
            self._send(200, b"open\n", "text/plain")
        else:
            self._send(404, _json_body({"error": "Not found"}))

    do_GET = do_HEAD = do_POST = _handle

    @staticmethod
    def _key(path: str) -> str:
        if match := re.fullmatch(r"/pypi/([^/]+)/json/?", path):
            return f"pypi:{urllib.parse.unquote(match[1])}"
        if match := re.match(r"/git/([^/]+?)(?:\.git)?(?:/|$)", path):
            return f"git:{match[1]}"
        if match := re.fullmatch(r"/gate/([^/]+)", path):
            return f"gate:{match[1]}"
        name = _npm_name(path)
        return f"npm:{name}" if name and name != "-" else ""

    def _npm(self, package: str, rest: list[str]) -> None:
        known = self.server.state().get("npm", {}).get(package)
        if known is None or len(rest) > 1:
            self._send(404, _json_body({"error": "Not found"}))
            return
        base = f"http://{self.headers.get('Host', 'localhost')}/{package.replace('/', '%2f')}/-"
        versions = {v: _npm_version(package, v, known, base) for v in known["versions"]}
        tags = {"latest": known["latest"]}
        if rest:  # one version, by its number or a dist-tag
            wanted = tags.get(rest[0], urllib.parse.unquote(rest[0]))
            if wanted in versions:
                self._send(200, _json_body(versions[wanted]))
            else:
                self._send(404, _json_body({"error": f"version not found: {wanted}"}))
            return
        document = {"_id": package, "name": package, "dist-tags": tags}
        self._send(
            200, _json_body({**document, "versions": versions, "modified": "2026-01-01T00:00:00.000Z"})
        )

    def _pypi(self, project: str) -> None:
        projects = self.server.state().get("pypi", {})
        known = next((v for k, v in projects.items() if _normalise(k) == _normalise(project)), None)
        if known is None:
            self._send(404, _json_body({"message": "Not Found"}))
            return
        requires = known.get("requires_python", {}).get(known["latest"])
        info = {"name": project, "version": known["latest"], "summary": "", "requires_python": requires}
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


def _npm_name(path: str) -> str:
    """The package a registry path names: ``/name``, ``/@scope%2fname`` or ``/@scope/name``,
    maybe followed by ``/<version>``."""
    parts = path[1:].split("/")
    if parts[0].startswith("@") and "%2f" not in parts[0].lower() and len(parts) > 1:
        return urllib.parse.unquote(f"{parts[0]}/{parts[1]}")
    return urllib.parse.unquote(parts[0])


def _npm_rest(path: str) -> list[str]:
    """What follows the package's name in a registry path (``[version]``, or nothing)."""
    parts = path[1:].split("/")
    scoped = parts[0].startswith("@") and "%2f" not in parts[0].lower() and len(parts) > 1
    return [part for part in parts[2 if scoped else 1 :] if part]


def integrity(package: str, version: str) -> str:
    """The ``dist.integrity`` the stand-in serves for a version (derived from its name)."""
    digest = hashlib.sha512(f"{package}@{version}".encode()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def shasum(package: str, version: str) -> str:
    """The ``dist.shasum`` the stand-in serves for a version (derived from its name)."""
    return hashlib.sha1(f"{package}@{version}".encode()).hexdigest()


def _npm_version(package: str, version: str, known: dict[str, Any], base: str) -> dict[str, Any]:
    tail = package.rsplit("/", 1)[-1]
    dist = {
        "tarball": f"{base}/{tail}-{version}.tgz",
        "integrity": integrity(package, version),
        "shasum": shasum(package, version),
    }
    document: dict[str, Any] = {"name": package, "version": version, "dist": dist}
    engines = known.get("engines", {}).get(version)
    if engines is not None:
        document["engines"] = engines
    return document


def _outcome(fault: dict[str, Any] | None) -> str:
    if fault is None:
        return "ok"
    words = ["held"] if fault.get("hold") else []
    words += ["slow"] if fault.get("delay") else []
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


@dataclass(frozen=True)
class Held:
    """The test's side of a held answer: how many requests arrived, and their release."""

    directory: Path
    id: int
    key: str

    def arrived(self) -> int:
        """How many requests have reached the hold so far."""
        return len(list(self.directory.glob(f"{self.id}.[0-9]*")))

    def wait(
        self, count: int = 1, *, timeout: float = TIMEOUT, describe: str | Callable[[], str] = "",
        alive: subprocess.Popen[str] | None = None,
    ) -> None:  # fmt: skip
        """Until ``count`` requests are held (``describe`` and ``alive`` as in ``wait_for``)."""

        def held() -> bool:
            return self.arrived() >= count

        wait_for(held, timeout, describe or f"{count} request(s) for {self.key} held", alive=alive)

    def release(self) -> None:
        """Answer every held request (and every later one) of this hold."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{self.id}.released").touch()


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

    def _release(self, kind: str, name: str, version: str, extra: tuple[str, object] | None = None) -> None:
        def change(state: dict[str, Any]) -> None:
            known = state.setdefault(kind, {}).setdefault(name, {"latest": version, "versions": []})
            known["latest"] = version
            if version not in known["versions"]:
                known["versions"].append(version)
            if extra is not None:  # a field of this version: its engines, its requires_python
                known.setdefault(extra[0], {})[version] = extra[1]

        self._change(change)

    def npm(self, package: str, version: str, *, engines: dict[str, str] | None = None) -> None:
        """Publish ``version`` of an npm package and make it ``dist-tags.latest``; its
        document says ``engines`` when given. Every version carries ``dist.integrity``
        and ``dist.shasum`` (``integrity()``, ``shasum()``)."""
        self._release("npm", package, version, None if engines is None else ("engines", dict(engines)))

    def pypi(self, project: str, version: str, *, requires_python: str | None = None) -> None:
        """Publish ``version`` of a PyPI project (``info.version``); ``info.requires_python``
        is the latest version's ``requires_python`` (None when not given)."""
        self._release("pypi", project, version, ("requires_python", requires_python))

    def unpublish(self, key: str, version: str) -> None:
        """Make one version of ``npm:<package>`` or ``pypi:<project>`` disappear from its
        document (npm then answers 404 for ``GET /<package>/<version>``). When it was the
        latest, the last published version left becomes latest; with none left, the
        package answers 404."""
        kind, _, name = key.partition(":")

        def change(state: dict[str, Any]) -> None:
            known = state.get(kind, {}).get(name)
            if known is None or version not in known["versions"]:
                raise KeyError(f"{key} has no version {version}")
            known["versions"].remove(version)
            if not known["versions"]:
                del state[kind][name]
            elif known["latest"] == version:
                known["latest"] = known["versions"][-1]

        self._change(change)

    def forget(self, key: str) -> None:
        """Remove ``npm:<package>`` or ``pypi:<project>``: it answers 404 from now on."""
        kind, _, name = key.partition(":")
        self._change(lambda state: state.get(kind, {}).pop(name, None))

    def fault(
        self, key: str, *, status: int | None = None, body: str | None = None,
        delay: float = 0.0, times: int | None = None, hold: float | None = None,
    ) -> int:  # fmt: skip
        """Answer ``key`` with ``status`` and/or ``body`` (garbage), after ``delay`` seconds,
        for the next ``times`` requests (None: until healed), then normally again. With
        ``hold`` (seconds, the safety net), each answer waits until released (``hold()``).
        Returns the fault's id."""
        made = 0

        def change(state: dict[str, Any]) -> None:
            nonlocal made
            state["serial"] = made = state.get("serial", 0) + 1
            plan = {"id": made, "status": status, "body": body, "delay": delay, "times": times, "hold": hold}
            state.setdefault("faults", {})[key] = plan

        self._change(change)
        return made

    def hold(
        self, key: str, *, times: int | None = None, status: int | None = None, body: str | None = None,
        limit: float = TIMEOUT,
    ) -> Held:  # fmt: skip
        """Hold the answers to ``key`` (the next ``times`` requests; None: all) until the
        test releases them; each held request says so (``Held.wait``). ``status`` and
        ``body`` are answered once released, as ``fault`` would. Past ``limit`` seconds a
        held request is answered anyway (a safety net: the test's outcome shows it)."""
        made = self.fault(key, status=status, body=body, times=times, hold=limit)
        return Held(self.directory / HOLDS, made, key)

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
