"""A flaky HTTP proxy in front of the test registry: the network going wrong, on purpose.

It runs inside the engine's network namespace (the registry and the daemon are
at 127.0.0.1 there). Requests for manifests consume the fault plan, one fault
per request, in order; when the plan is used up, every request is forwarded
untouched. Faults: an HTTP status (``503``, ``502``, ``429``, ``401``, ...,
with the body a registry would send), ``reset`` (close the connection with no
answer), ``cut`` (send half a body and hang up), ``slow`` (answer, but only
after a few seconds).

    python -m tests.harness.flaky --upstream 127.0.0.1:5000 --plan 503,reset --port-file F --log F

Tests start it through ``start()``; it prints nothing and logs one line per request.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SLOW = 3.0  # seconds a "slow" answer waits

ERRORS = {
    401: ("UNAUTHORIZED", "authentication required"),
    403: ("DENIED", "requested access to the resource is denied"),
    429: ("TOOMANYREQUESTS", "You have reached your pull rate limit."),
}


class Plan:
    def __init__(self, faults: list[str]) -> None:
        self._faults, self._lock = list(faults), threading.Lock()

    def next(self, path: str) -> str | None:
        if "/manifests/" not in path:
            return None
        with self._lock:
            return self._faults.pop(0) if self._faults else None


def handler(upstream: str, plan: Plan, log: Path) -> type[http.server.BaseHTTPRequestHandler]:
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _record(self, fault: str | None) -> None:
            with log.open("a") as out:
                out.write(f"{self.command} {self.path} {fault or 'ok'}\n")

        def _handle(self) -> None:
            fault = plan.next(self.path)
            self._record(fault)
            if fault == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.close_connection = True
                return
            if fault is not None and fault.isdigit():
                self._status(int(fault))
                return
            if fault == "slow":
                time.sleep(SLOW)
            self._forward(cut=fault == "cut")

        def _status(self, code: int) -> None:
            name, message = ERRORS.get(code, ("UNAVAILABLE", "injected failure"))
            body = json.dumps({"errors": [{"code": name, "message": message}]}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _forward(self, cut: bool) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(
                        key, value.replace(f"http://{upstream}", f"http://{self.headers['Host']}")
                    )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data[: len(data) // 2] if cut else data)
            if cut:
                self.close_connection = True
            conn.close()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Proxy


def serve(upstream: str, faults: list[str], port_file: Path, log: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(upstream, Plan(faults), log))
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


@dataclass
class Flaky:
    address: str  # host:port as the engine sees it
    log: Path
    process: subprocess.Popen[bytes]

    def requests(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def stop(self) -> None:
        end(self.process)


def end(process: subprocess.Popen[bytes]) -> None:
    """Stop a helper server: politely, then for good after 5 s."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    if process.poll() is None:
        process.kill()
        process.wait()


def start(nsenter: list[str], upstream: str, faults: list[str], workdir: Path) -> Flaky:
    """Start the proxy inside the engine's network namespace (``nsenter`` prefix)."""
    port_file, log = workdir / "flaky.port", workdir / "flaky.log"
    port_file.unlink(missing_ok=True)
    root = str(Path(__file__).resolve().parents[2])
    argv = [*nsenter, sys.executable, "-m", "tests.harness.flaky", "--upstream", upstream,
            "--plan", ",".join(faults), "--port-file", str(port_file), "--log", str(log)]  # fmt: skip
    process = subprocess.Popen(argv, cwd=root, env={**os.environ, "PYTHONPATH": root})
    deadline = time.monotonic() + 10
    while not port_file.exists() or not port_file.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the flaky proxy did not start")
        time.sleep(0.05)
    return Flaky(f"127.0.0.1:{port_file.read_text()}", log, process)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--plan", default="")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.upstream, [f for f in args.plan.split(",") if f], args.port_file, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
