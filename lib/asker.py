"""Asking upstreams over the network: plain HTTP(S) GETs with the standard library.

npm's ``dist-tags.latest``, PyPI's ``info.version``, and the commit a git ref names,
read from the smart-HTTP ref advertisement (``GET <url>/info/refs?service=git-upload-pack``),
so the host needs no git. A 10 s timeout per request, ``HTTPS_PROXY``/``NO_PROXY``
honoured (urllib's proxy handling), and the project's retry policy for transient errors.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.request import (
    HTTPDefaultErrorHandler,
    HTTPErrorProcessor,
    HTTPHandler,
    HTTPRedirectHandler,
    HTTPSHandler,
    ProxyHandler,
    UnknownHandler,
)

from . import __version__
from .classify import RetryNotice, retrying
from .errors import UpstreamError, UpstreamUnreachable
from .upstreams import SHA, Answer, Endpoints, Upstream, shorten, value_ok

if TYPE_CHECKING:
    import tenacity

TIMEOUT = 10.0
USER_AGENT = f"claw/{__version__} (livecheck)"
NPM_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
MAX_BODY = 64 * 1024 * 1024  # abbreviated npm documents of very old packages stay far below
_CHUNK = 256 * 1024


class _Failure(Exception):
    """Internal: what went wrong, before it is tied to an upstream."""

    def __init__(self, detail: str, *, transient: bool = False, cap: int | None = None) -> None:
        super().__init__(detail)
        self.detail, self.transient, self.cap = detail, transient, cap


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.transient


# Asking


class Asker:
    """Asks upstreams, retrying transient failures (``on_retry`` hears of each retry, from
    the thread that asks)."""

    def __init__(
        self,
        endpoints: Endpoints | None = None,
        *,
        attempts: int = 3,
        wait: tenacity.wait.wait_base | None = None,
        on_retry: RetryNotice | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.endpoints = endpoints or Endpoints()
        self.attempts, self.wait, self.on_retry, self.timeout = attempts, wait, on_retry, timeout

    def url(self, upstream: Upstream) -> str:
        """Where the question goes."""
        if upstream.kind == "npm":
            return f"{self.endpoints.npm}/{upstream.name.replace('/', '%2f')}"
        if upstream.kind == "pypi":
            return f"{self.endpoints.pypi}/pypi/{upstream.name}/json"
        return f"{upstream.name.rstrip('/')}/info/refs?service=git-upload-pack"

    def ask(self, upstream: Upstream) -> Answer:
        """What ``upstream`` names as current; raises ``UpstreamError``."""
        policy = retrying(self.attempts, self.on_retry, self.wait, transient=_worth_retrying)
        return policy(self._once, upstream)

    def _once(self, upstream: Upstream) -> Answer:
        try:
            value, integrity, runtime = self._value(upstream)
            if not value_ok(upstream.kind, value):
                what = "a commit sha" if upstream.kind == "git" else "a plain version string"
                raise _Failure(f"answer not understood (not {what})")
        except _Failure as exc:
            kind = UpstreamUnreachable if exc.transient else UpstreamError
            raise kind(upstream, exc.detail, max_attempts=exc.cap) from exc.__cause__
        return Answer(upstream, value, integrity=integrity, runtime=runtime)

    def _value(self, upstream: Upstream) -> tuple[str, str | None, str | None]:
        """The answer, with the integrity and the runtime range the same document gives."""
        url = self.url(upstream)
        where = "git server" if upstream.kind == "git" else "registry"
        if upstream.kind == "npm":
            document = _document(self._fetch(url, NPM_ACCEPT, where), "npm registry's")
            version = _field(document, "npm registry's", "dist-tags", "latest")
            return version, *_npm_extras(document, version)
        if upstream.kind == "pypi":
            document = _document(self._fetch(url, "application/json", where), "PyPI JSON API's")
            version = _field(document, "PyPI JSON API's", "info", "version")
            info = document["info"]  # a table: _field read info.version from it
            declared = _text(info.get("requires_python")) if isinstance(info, dict) else None
            return version, None, f"python {declared}" if declared else None
        commit = _resolve(_advertised(self._fetch(url, "*/*", where)), upstream.ref)
        return commit, commit, None

    def _fetch(self, url: str, accept: str, where: str) -> bytes:
        headers = {"User-Agent": USER_AGENT, "Accept": accept, "Cache-Control": "no-cache"}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) only: checked, and _opener)
        deadline = time.monotonic() + self.timeout
        try:
            with _opener().open(request, timeout=self.timeout) as response:
                return _read(response, deadline)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _status_failure(exc.code, url, where) from exc
        except urllib.error.URLError as exc:
            raise _network_failure(exc.reason, where, self.timeout) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _network_failure(exc, where, self.timeout) from exc
        except ValueError as exc:
            raise _Failure(f"cannot ask {url} ({exc})") from exc


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only; ``ProxyHandler()`` reads HTTP(S)_PROXY now and NO_PROXY at each request."""
    opener = urllib.request.OpenerDirector()
    for handler in (ProxyHandler, UnknownHandler, HTTPHandler, HTTPSHandler, HTTPDefaultErrorHandler,
                    HTTPRedirectHandler, HTTPErrorProcessor):  # fmt: skip
        opener.add_handler(handler())
    return opener


def _read(response: http.client.HTTPResponse, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(_CHUNK):
        size += len(chunk)
        if size > MAX_BODY:
            raise _Failure(f"answer larger than {MAX_BODY // 2**20} MiB")
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        chunks.append(chunk)
    return b"".join(chunks)


def _status_failure(code: int, url: str, where: str) -> _Failure:
    if code >= 500:
        return _Failure(f"{where} failed ({code}) at {url}", transient=True)
    if code in (404, 410):
        return _Failure(f"not found ({code}) at {url}")
    if code == 429:
        return _Failure(f"rate limited (429) at {url}")
    if code in (401, 403):
        return _Failure(f"refused ({code}) at {url}")
    return _Failure(f"unexpected answer ({code}) at {url}")


def _network_failure(reason: object, where: str, timeout: float) -> _Failure:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _Failure(f"{where}'s TLS certificate is not trusted ({reason.verify_message})")
    if isinstance(reason, TimeoutError):
        return _Failure(f"{where} unreachable (no answer within {timeout:g}s)", transient=True)
    if isinstance(reason, ConnectionRefusedError):
        return _Failure(f"{where} unreachable (connection refused)", transient=True, cap=2)
    if isinstance(reason, socket.gaierror) and reason.errno == socket.EAI_NONAME:
        return _Failure(
            f"{where} unreachable (no such host)"
        )  # the name does not exist: asking again is no use
    if isinstance(reason, socket.gaierror):
        return _Failure(f"{where} unreachable (DNS lookup failed)", transient=True, cap=2)
    if isinstance(reason, ConnectionResetError):
        return _Failure(f"{where} unreachable (connection reset)", transient=True)
    if isinstance(reason, (OSError, http.client.HTTPException)):
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return _Failure(f"{where} unreachable ({shorten(text, 100)})", transient=True)
    return _Failure(f"cannot ask ({shorten(str(reason), 100)})")


# Reading the answers


def _document(body: bytes, api: str) -> dict[str, object]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _Failure(f"answer is not the {api} shape (not JSON)") from None
    return document if isinstance(document, dict) else {}  # _field then names what is missing


def _field(document: Mapping[str, object], api: str, section: str, key: str) -> str:
    """``document[section][key]`` of a JSON answer, a string."""
    part = document.get(section)
    value = part.get(key) if isinstance(part, dict) else None
    if not isinstance(value, str):
        raise _Failure(f"answer is not the {api} shape (no {section}.{key})")
    return value


def _npm_extras(document: Mapping[str, object], version: str) -> tuple[str | None, str | None]:
    """``dist.integrity`` and ``engines.node`` of ``version``, when the document has them
    (the abbreviated document npm serves for installs carries both)."""
    versions = document.get("versions")
    entry = versions.get(version) if isinstance(versions, dict) else None
    if not isinstance(entry, dict):
        return None, None
    dist, engines = entry.get("dist"), entry.get("engines")
    integrity = _text(dist.get("integrity")) if isinstance(dist, dict) else None
    node = _text(engines.get("node")) if isinstance(engines, dict) else None
    return integrity, f"node {node}" if node else None


def _text(value: object) -> str | None:
    """A short printable string from an answer, else None (answers are untrusted)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 256 or not value.isprintable():
        return None
    return value.strip()


_NOT_SMART = "answer is not a git smart-HTTP ref advertisement"


def _pkt_lines(body: bytes) -> list[bytes | None]:
    """Split pkt-lines: 4 hex digits of length (itself included); ``0000`` (flush) gives None."""
    lines: list[bytes | None] = []
    at = 0
    while at < len(body):
        head = body[at : at + 4]
        if not re.fullmatch(rb"[0-9a-fA-F]{4}", head):
            raise _Failure(_NOT_SMART)
        size = int(head, 16)
        if size == 0:
            lines.append(None)
            at += 4
            continue
        if size < 4 or at + size > len(body):
            raise _Failure(_NOT_SMART + " (bad pkt-line length)")
        lines.append(body[at + 4 : at + size])
        at += size
    return lines


def _advertised(body: bytes) -> dict[str, str]:
    """Ref name -> sha from a protocol v0 ``info/refs`` answer (peeled tags as ``<tag>^{}``)."""
    payloads = [line.rstrip(b"\n") for line in _pkt_lines(body) if line is not None]
    refused = next((payload for payload in payloads if payload.startswith(b"ERR ")), None)
    if refused is not None:
        raise _Failure(f"the git server refused: {_printable(refused[4:])}")
    if not payloads or payloads[0] != b"# service=git-upload-pack":
        raise _Failure(_NOT_SMART)
    refs: dict[str, str] = {}
    for payload in payloads[1:]:
        line = payload.split(b"\0", 1)[0]  # capabilities follow a NUL on the first ref line
        if line == b"version 1":
            continue
        sha, _, name = line.decode("ascii", "replace").partition(" ")
        if not SHA.fullmatch(sha) or not name:
            raise _Failure(_NOT_SMART + " (bad ref line)")
        refs[name] = sha
    return refs


def _resolve(refs: Mapping[str, str], ref: str | None) -> str:
    """``main`` is a branch, else a tag (peeled first); ``refs/...`` is taken as is; None is HEAD."""
    if ref is None:
        candidates = ["HEAD"]
    elif ref.startswith("refs/"):
        candidates = [f"{ref}^{{}}", ref]
    else:
        candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"]
    for name in candidates:
        if name in refs:
            return refs[name]
    raise _Failure(f"no ref {ref or 'HEAD'}")


def _printable(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return shorten("".join(c if c.isprintable() else "?" for c in text), 100)
