"""lib.upstreams against the stand-ins on 127.0.0.1: npm, PyPI and git smart HTTP."""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import tenacity

from lib import __version__, upstreams
from lib import asker as network
from lib import asking as questions
from lib.errors import Interrupted, UpstreamError, UpstreamUnreachable
from lib.upstreams import Answer, Endpoints, Upstream, parse, parse_record
from tests.harness import standins
from tests.harness.standins import StandIns

PROXY_KEYS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in PROXY_KEYS:
        monkeypatch.delenv(key, raising=False)
        monkeypatch.delenv(key.upper(), raising=False)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StandIns]:
    started = standins.serve(tmp_path / "world")
    yield started
    started.stop()


def asker(world: StandIns, **options: object) -> network.Asker:
    settings: dict[str, object] = {"attempts": 3, "wait": tenacity.wait_none(), **options}
    return network.Asker(Endpoints(npm=world.url, pypi=world.url), **settings)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pkt(text: str) -> str:
    return f"{len(text.encode()) + 4:04x}{text}"


# --------------------------------------------------------------------------
# Reading upstreams and records
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "name", "ref"),
    [
        ("npm:openclaw", "npm", "openclaw", None),
        ("npm:@anthropic-ai/claude-code", "npm", "@anthropic-ai/claude-code", None),
        ("pypi:nanobot-ai", "pypi", "nanobot-ai", None),
        (
            "git:https://github.com/qwibitai/nanoclaw.git",
            "git",
            "https://github.com/qwibitai/nanoclaw.git",
            None,
        ),
        ("git:https://host/repo.git#main", "git", "https://host/repo.git", "main"),
        (
            "git:http://127.0.0.1:8080/x.git#refs/tags/v1.2",
            "git",
            "http://127.0.0.1:8080/x.git",
            "refs/tags/v1.2",
        ),
    ],
)
def test_parse(spec: str, kind: str, name: str, ref: str | None) -> None:
    upstream = parse(spec)
    assert upstream == Upstream(kind, name, ref)
    assert str(upstream) == spec


def test_head_is_the_default_ref() -> None:
    assert parse("git:https://host/repo.git#HEAD") == parse("git:https://host/repo.git")
    assert parse("git:https://host/repo.git#HEAD").ref is None


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "unknown kind"),
        ("openclaw", "unknown kind"),
        ("docker:busybox", "unknown kind"),
        ("NPM:openclaw", "unknown kind"),
        ("npm:", "no name after 'npm:'"),
        ("git:", "no name after 'git:'"),
        ("npm: openclaw", "whitespace or control characters"),
        ("npm:open claw", "whitespace or control characters"),
        ("pypi:nanobot-ai\n", "whitespace or control characters"),
        ("npm:openclaw@1.0", "'openclaw@1.0' is not an npm package name"),
        ("npm:@scope", "'@scope' is not an npm package name"),
        ("npm:@/x", "'@/x' is not an npm package name"),
        ("npm:../etc/passwd", "is not an npm package name"),
        ("npm:a/b", "is not an npm package name"),
        ("pypi:-bad", "'-bad' is not a PyPI project name"),
        ("pypi:a/b", "is not a PyPI project name"),
        ("npm:openclaw#main", "only git upstreams take a #ref"),
        ("git:ssh://github.com/x.git", "needs an http:// or https:// URL"),
        ("git:file:///tmp/x.git", "needs an http:// or https:// URL"),
        ("git:github.com/x.git", "needs an http:// or https:// URL"),
        ("git:https://user:token@github.com/x.git", "credentials in a git URL"),
        ("git:https:///x.git", "names no host"),
        ("git:https://h:99999/x.git", "does not parse"),
        ("git:https://h/x.git?a=1", "characters outside"),
        ("git:https://h/x.git#", "'' is not a git ref name"),
        ("git:https://h/x.git#a..b", "'a..b' is not a git ref name"),
        ("git:https://h/x.git#-x", "'-x' is not a git ref name"),
        ("git:https://h/x.git#x.lock", "'x.lock' is not a git ref name"),
        ("git:https://h/x.git#a#b", "'a#b' is not a git ref name"),
    ],
)
def test_parse_rejects(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match="^upstream .*" + re.escape(problem)):
        parse(spec)


@pytest.mark.parametrize(
    ("spec", "value", "record"),
    [
        ("npm:openclaw", "2026.5.22", "npm:openclaw@2026.5.22"),
        ("npm:@anthropic-ai/claude-code", "2.1.3", "npm:@anthropic-ai/claude-code@2.1.3"),
        ("pypi:nanobot-ai", "0.1.4.post3", "pypi:nanobot-ai@0.1.4.post3"),
        ("git:https://github.com/qwibitai/nanoclaw.git#main", SHA,
         f"git:https://github.com/qwibitai/nanoclaw.git#main@{SHA}"),
        ("git:https://github.com/qwibitai/nanoclaw.git", SHA, f"git:https://github.com/qwibitai/nanoclaw.git#HEAD@{SHA}"),
        ("git:https://h/x.git#v1", "f" * 64, f"git:https://h/x.git#v1@{'f' * 64}"),
    ],
)  # fmt: skip
def test_record_round_trip(spec: str, value: str, record: str) -> None:
    answer = Answer(parse(spec), value)
    assert answer.record() == record
    assert parse_record(record) == answer


@pytest.mark.parametrize(
    "text",
    [
        "",
        "npm:openclaw",
        "npm:openclaw@",
        "@1.0",
        "npm:@scope/name",
        "npm:x@1@2",
        "npm:openclaw@1.0;rm -rf /",
        "npm:openclaw@1.0\n",
        "npm:openclaw@1.0 ",
        "pypi:x@1.0\x1b[31m",
        "npm:openclaw@" + "1" * 129,
        "docker:busybox@1.36",
        f"git:https://h/r.git#main@{SHA.upper()}",
        "git:https://h/r.git#main@abc123",
        f"git:https://h/r.git#main@{SHA}0",
        "git:https://h/r.git#main@2026.5.22",
        f"git:ssh://h/r.git#main@{SHA}",
        f"git:https://u:p@h/r.git#main@{SHA}",
        "npm:openclaw@" + "x" * 5000,
    ],
)
def test_parse_record_refuses_what_it_did_not_write(text: str) -> None:
    assert parse_record(text) is None


def test_answer_checks_its_value() -> None:
    with pytest.raises(ValueError, match=r"^npm:openclaw: '1\.0 beta' is not a version or commit sha$"):
        Answer(parse("npm:openclaw"), "1.0 beta")
    with pytest.raises(ValueError, match="is not a version or commit sha"):
        Answer(parse("git:https://h/r.git"), "1.0")


def test_display() -> None:
    assert Answer(parse("npm:openclaw"), "2026.5.22").display() == "npm:openclaw 2026.5.22"
    assert Answer(parse("git:https://h/r.git#main"), SHA).display() == "git:https://h/r.git#main 0123456789ab"


# --------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------


def test_endpoints_precedence() -> None:
    public = Endpoints("https://registry.npmjs.org", "https://pypi.org")
    assert upstreams.endpoints(None, None, {}) == public
    assert upstreams.endpoints(None, None, {"npm_config_registry": "http://lower/"}).npm == "http://lower"
    both = {"NPM_CONFIG_REGISTRY": "http://upper:4873/", "npm_config_registry": "http://lower/"}
    assert upstreams.endpoints(None, None, both).npm == "http://upper:4873"
    assert upstreams.endpoints("https://config/npm///", None, both).npm == "https://config/npm"
    assert upstreams.endpoints("", None, {"NPM_CONFIG_REGISTRY": " ", "npm_config_registry": ""}) == public
    chosen = upstreams.endpoints(None, "https://pypi.internal/", {"NPM_CONFIG_REGISTRY": "http://n/"})
    assert chosen == Endpoints("http://n", "https://pypi.internal")


@pytest.mark.parametrize(
    ("npm", "environ", "message"),
    [
        ("ftp://mirror", {}, r"^\[livecheck\] npm: 'ftp://mirror' is not an http\(s\) base URL$"),
        (
            None,
            {"NPM_CONFIG_REGISTRY": "registry.npmjs.org"},
            "^NPM_CONFIG_REGISTRY: 'registry.npmjs.org' is not",
        ),
        ("https://u:p@mirror/", {}, r"^\[livecheck\] npm: credentials in the URL are not supported$"),
        ("https://mirror/?x=1", {}, "is not an http"),
    ],
)
def test_endpoints_reject(npm: str | None, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        upstreams.endpoints(npm, None, environ)


def test_urls() -> None:
    asking = network.Asker(Endpoints("http://npm.test/r", "http://pypi.test"))
    assert asking.url(parse("npm:openclaw")) == "http://npm.test/r/openclaw"
    assert (
        asking.url(parse("npm:@anthropic-ai/claude-code")) == "http://npm.test/r/@anthropic-ai%2fclaude-code"
    )
    assert asking.url(parse("pypi:nanobot-ai")) == "http://pypi.test/pypi/nanobot-ai/json"
    assert (
        asking.url(parse("git:https://h/r.git#main")) == "https://h/r.git/info/refs?service=git-upload-pack"
    )


# --------------------------------------------------------------------------
# Asking
# --------------------------------------------------------------------------


def test_npm(world: StandIns) -> None:
    world.npm("openclaw", "2026.5.22")
    assert asker(world).ask(parse("npm:openclaw")) == Answer(parse("npm:openclaw"), "2026.5.22")
    world.npm("openclaw", "2026.5.24")
    assert asker(world).ask(parse("npm:openclaw")).record() == "npm:openclaw@2026.5.24"
    assert world.requests() == ["GET /openclaw ok", "GET /openclaw ok"]


def test_npm_scoped(world: StandIns) -> None:
    world.npm("@anthropic-ai/claude-code", "2.1.3")
    answer = asker(world).ask(parse("npm:@anthropic-ai/claude-code"))
    assert answer.record() == "npm:@anthropic-ai/claude-code@2.1.3"
    assert world.requests() == ["GET /@anthropic-ai%2fclaude-code ok"]


def test_pypi(world: StandIns) -> None:
    world.pypi("nanobot-ai", "0.1.4.post3")
    assert asker(world).ask(parse("pypi:nanobot-ai")).value == "0.1.4.post3"
    world.pypi("nanobot-ai", "0.1.5")
    assert asker(world).ask(parse("pypi:nanobot-ai")).value == "0.1.5"
    assert world.requests() == ["GET /pypi/nanobot-ai/json ok"] * 2


def test_git_branches_and_head(world: StandIns) -> None:
    repo = world.repo("nanoclaw")
    ask = asker(world).ask
    first = repo.commit("main")
    assert ask(parse(f"git:{repo.url}")).value == first
    assert ask(parse(f"git:{repo.url}#main")).record() == f"git:{repo.url}#main@{first}"
    second = repo.commit("main")
    assert second != first
    assert ask(parse(f"git:{repo.url}")).value == second
    assert ask(parse(f"git:{repo.url}#main")).value == second
    dev = repo.commit("dev")
    assert ask(parse(f"git:{repo.url}#dev")).value == dev
    assert ask(parse(f"git:{repo.url}#refs/heads/dev")).value == dev
    assert ask(parse(f"git:{repo.url}")).value == second
    repo.head("dev")
    assert ask(parse(f"git:{repo.url}")).value == dev


def test_git_tags(world: StandIns) -> None:
    repo = world.repo("nanoclaw")
    ask = asker(world).ask
    first = repo.commit()
    second = repo.commit()
    repo.tag("v1", first)
    repo.tag("v2", second, annotated=False)
    tag_object = repo.git("rev-parse", "refs/tags/v1")
    assert tag_object not in (first, second)
    assert ask(parse(f"git:{repo.url}#v1")).value == first  # peeled
    assert ask(parse(f"git:{repo.url}#refs/tags/v1")).value == first
    assert ask(parse(f"git:{repo.url}#v2")).value == second
    repo.tag("main", first, annotated=False)
    assert ask(parse(f"git:{repo.url}#main")).value == second  # a branch wins over a tag


def test_git_missing_ref(world: StandIns) -> None:
    repo = world.repo("nanoclaw")
    repo.commit()
    with pytest.raises(UpstreamError) as caught:
        asker(world).ask(parse(f"git:{repo.url}#nobranch"))
    assert caught.value.reason == f"git:{repo.url}#nobranch: no ref nobranch"
    assert not caught.value.transient
    assert len(world.requests()) == 1


def test_git_empty_repository_has_no_head(world: StandIns) -> None:
    repo = world.repo("empty")
    with pytest.raises(UpstreamError, match=r": no ref HEAD$"):
        asker(world).ask(parse(f"git:{repo.url}"))


def test_git_unknown_repository(world: StandIns) -> None:
    url = f"{world.url}/git/nothere.git"
    with pytest.raises(UpstreamError) as caught:
        asker(world).ask(parse(f"git:{url}"))
    assert str(caught.value) == f"git:{url}: not found (404) at {url}/info/refs?service=git-upload-pack"


def test_not_found(world: StandIns) -> None:
    with pytest.raises(UpstreamError) as caught:
        asker(world).ask(parse("npm:nosuchpkg"))
    assert str(caught.value) == f"npm:nosuchpkg: not found (404) at {world.url}/nosuchpkg"
    assert type(caught.value) is UpstreamError
    world.pypi("gone", "1.0")
    world.forget("pypi:gone")
    with pytest.raises(UpstreamError, match=r"^pypi:gone: not found \(404\) at "):
        asker(world).ask(parse("pypi:gone"))
    assert world.requests() == ["GET /nosuchpkg ok", "GET /pypi/gone/json ok"]  # not retried


@pytest.mark.parametrize(
    ("spec", "body", "detail"),
    [
        ("npm:openclaw", "<html>oops</html>", "answer is not the npm registry's shape (not JSON)"),
        (
            "npm:openclaw",
            '{"name": "openclaw"}',
            "answer is not the npm registry's shape (no dist-tags.latest)",
        ),
        (
            "npm:openclaw",
            '{"dist-tags": {"latest": 5}}',
            "answer is not the npm registry's shape (no dist-tags.latest)",
        ),
        ("npm:openclaw", "[1, 2]", "answer is not the npm registry's shape (no dist-tags.latest)"),
        ("npm:openclaw", "[" * 100_000, "answer is not the npm registry's shape (not JSON)"),
        (
            "npm:openclaw",
            '{"dist-tags": {"latest": "1.0; rm -rf /"}}',
            "answer not understood (not a plain version string)",
        ),
        (
            "npm:openclaw",
            '{"dist-tags": {"latest": ""}}',
            "answer not understood (not a plain version string)",
        ),
        ("pypi:x", "", "answer is not the PyPI JSON API's shape (not JSON)"),
        ("pypi:x", '{"info": {}}', "answer is not the PyPI JSON API's shape (no info.version)"),
        (
            "pypi:x",
            '{"info": {"version": "' + "1" * 129 + '"}}',
            "answer not understood (not a plain version string)",
        ),
    ],
)
def test_answers_not_understood(world: StandIns, spec: str, body: str, detail: str) -> None:
    upstream = parse(spec)
    world.fault(spec, body=body)
    with pytest.raises(UpstreamError) as caught:
        asker(world).ask(upstream)
    assert caught.value.reason == f"{spec}: {detail}"
    assert not caught.value.transient
    assert len(world.requests()) == 1


ADVERTISED = "001e# service=git-upload-pack\n0000"
A, B, C = "a" * 40, "b" * 40, "c" * 40


@pytest.mark.parametrize(
    ("ref", "body", "outcome"),
    [
        (None, ADVERTISED + pkt(f"{A} HEAD\0multi_ack symref=HEAD:refs/heads/main agent=git/2\n")
         + pkt(f"{A} refs/heads/main\n") + pkt(f"{B} refs/tags/v1\n") + pkt(f"{C} refs/tags/v1^{{}}\n") + "0000", A),
        ("v1", ADVERTISED + pkt(f"{A} HEAD\0caps\n") + pkt(f"{B} refs/tags/v1\n")
         + pkt(f"{C} refs/tags/v1^{{}}\n") + "0000", C),
        ("v1", ADVERTISED + pkt(f"{A} HEAD\0caps\n") + pkt(f"{B} refs/tags/v1") + "0000", B),
        (None, pkt("ERR access denied\n"), "the git server refused: access denied"),
        (None, ADVERTISED + pkt("ERR \x1b[31mno\n"), "the git server refused: ?[31mno"),
        (None, "00ff# service=git-upload-pack\n", "answer is not a git smart-HTTP ref advertisement (bad pkt-line length)"),
        (None, ADVERTISED + "0002", "answer is not a git smart-HTTP ref advertisement (bad pkt-line length)"),
        (None, f"{A}\trefs/heads/main\n", "answer is not a git smart-HTTP ref advertisement (bad pkt-line length)"),
        (None, "<html>sign in</html>", "answer is not a git smart-HTTP ref advertisement"),
        (None, pkt(f"{A} HEAD\0caps\n") + "0000", "answer is not a git smart-HTTP ref advertisement"),
        (None, ADVERTISED + pkt("zzzz HEAD\n"), "answer is not a git smart-HTTP ref advertisement (bad ref line)"),
        (None, ADVERTISED + pkt("version 2\n") + pkt("agent=git/2\n") + "0000",
         "answer is not a git smart-HTTP ref advertisement (bad ref line)"),
        (None, ADVERTISED + "0000", "no ref HEAD"),
    ],
)  # fmt: skip
def test_ref_advertisements(world: StandIns, ref: str | None, body: str, outcome: str) -> None:
    upstream = Upstream("git", f"{world.url}/git/crafted.git", ref)
    world.fault("git:crafted", body=body)
    if outcome in (A, B, C):
        assert asker(world).ask(upstream).value == outcome
        return
    with pytest.raises(UpstreamError) as caught:
        asker(world).ask(upstream)
    assert caught.value.detail == outcome
    assert not caught.value.transient


def test_server_error_twice_then_ok(world: StandIns) -> None:
    world.npm("openclaw", "2026.5.22")
    world.fault("npm:openclaw", status=500, times=2)
    notices: list[tuple[str, int]] = []
    answer = asker(world, on_retry=lambda exc, attempt, wait: notices.append((str(exc), attempt))).ask(
        parse("npm:openclaw")
    )
    assert answer.value == "2026.5.22"
    failed = f"npm:openclaw: registry failed (500) at {world.url}/openclaw"
    assert notices == [(failed, 1), (failed, 2)]
    assert world.requests() == ["GET /openclaw 500", "GET /openclaw 500", "GET /openclaw ok"]


def test_server_error_always(world: StandIns) -> None:
    world.npm("openclaw", "2026.5.22")
    world.fault("npm:openclaw", status=503)
    with pytest.raises(UpstreamUnreachable) as caught:
        asker(world, attempts=4).ask(parse("npm:openclaw"))
    assert caught.value.reason == f"npm:openclaw: registry failed (503) at {world.url}/openclaw"
    assert caught.value.transient
    assert world.requests() == ["GET /openclaw 503"] * 4


def test_git_server_error_is_retried(world: StandIns) -> None:
    repo = world.repo("nanoclaw")
    sha = repo.commit()
    world.fault("git:nanoclaw", status=502, times=1)
    assert asker(world).ask(parse(f"git:{repo.url}#main")).value == sha
    assert world.requests() == ["GET /git/nanoclaw.git/info/refs?service=git-upload-pack 502",
                                "GET /git/nanoclaw.git/info/refs?service=git-upload-pack ok"]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "detail"),
    [(429, "rate limited (429)"), (401, "refused (401)"), (418, "unexpected answer (418)")],
)
def test_client_errors_are_not_retried(world: StandIns, status: int, detail: str) -> None:
    world.npm("openclaw", "2026.5.22")
    world.fault("npm:openclaw", status=status)
    with pytest.raises(UpstreamError) as caught:
        asker(world).ask(parse("npm:openclaw"))
    assert caught.value.reason == f"npm:openclaw: {detail} at {world.url}/openclaw"
    assert not caught.value.transient
    assert len(world.requests()) == 1


def test_connection_refused() -> None:
    port = free_port()
    notices: list[int] = []
    asking = network.Asker(
        Endpoints(npm=f"http://127.0.0.1:{port}"), attempts=5, wait=tenacity.wait_none(),
        on_retry=lambda exc, attempt, wait: notices.append(attempt),
    )  # fmt: skip
    with pytest.raises(UpstreamUnreachable) as caught:
        asking.ask(parse("npm:openclaw"))
    assert caught.value.reason == "npm:openclaw: registry unreachable (connection refused)"
    assert caught.value.transient
    assert notices == [1]  # refused rarely heals: two attempts, as for docker


def test_slow_answer_times_out(world: StandIns) -> None:
    world.npm("openclaw", "2026.5.22")
    held = world.hold("npm:openclaw")  # no answer at all until the ask is over
    try:
        with pytest.raises(UpstreamUnreachable) as caught:
            asker(world, attempts=1, timeout=0.3).ask(parse("npm:openclaw"))
        assert held.arrived() == 1  # asked, then gave up on the answer
    finally:
        held.release()
    assert caught.value.reason == "npm:openclaw: registry unreachable (no answer within 0.3s)"


def test_slow_once_then_ok(world: StandIns) -> None:
    world.pypi("nanobot-ai", "0.1.4")
    held = world.hold("pypi:nanobot-ai", times=1)  # the first answer never comes in time
    try:
        # the timeout is all the first attempt costs; the quick answer meets it on any machine
        assert asker(world, attempts=2, timeout=3.0).ask(parse("pypi:nanobot-ai")).value == "0.1.4"
    finally:
        held.release()
    assert world.requests() == ["GET /pypi/nanobot-ai/json held", "GET /pypi/nanobot-ai/json ok"]


def test_one_asker_asks_each_kind_in_turn(world: StandIns) -> None:
    world.npm("openclaw", "2026.5.22")
    world.pypi("nanobot-ai", "0.1.4")
    sha = world.repo("nanoclaw").commit()
    asking = asker(world)
    wanted = [parse("npm:openclaw"), parse("pypi:nanobot-ai"), parse(f"git:{world.url}/git/nanoclaw.git")]
    assert [asking.ask(upstream).value for upstream in wanted] == ["2026.5.22", "0.1.4", sha]
    with pytest.raises(UpstreamError) as caught:
        asking.ask(parse("npm:nosuchpkg"))
    assert caught.value.detail == f"not found (404) at {world.url}/nosuchpkg"


def test_an_interrupt_does_not_wait_for_the_answer(world: StandIns) -> None:
    """Ctrl-C while an upstream is being asked ends the wait at once: the request in
    flight is abandoned (it changes nothing)."""
    world.npm("a", "1.0")
    held = world.hold("npm:a")  # the answer waits for the test
    cancel = threading.Event()

    def interrupt() -> None:  # once `a` is being asked, Ctrl-C
        held.wait()
        cancel.set()

    interrupter = threading.Thread(target=interrupt, name="interrupter", daemon=True)
    interrupter.start()
    try:
        with pytest.raises(Interrupted):
            questions.answer(asker(world), parse("npm:a"), cancel)
        assert held.arrived() == 1  # interrupted while `a` was unanswered: it did not wait for it
    finally:
        held.release()
        interrupter.join(timeout=60)
        for abandoned in [t for t in threading.enumerate() if t.name == "claw-ask-npm"]:
            abandoned.join(timeout=60)  # answered once released: no request of it outlives the test


def test_http_proxy_is_used(world: StandIns, monkeypatch: pytest.MonkeyPatch) -> None:
    world.npm("openclaw", "2026.5.22")
    monkeypatch.setenv("HTTP_PROXY", world.url)
    asking = network.Asker(Endpoints(npm="http://registry.example.invalid"), attempts=1)
    assert asking.ask(parse("npm:openclaw")).value == "2026.5.22"
    assert world.requests() == [
        "GET http://registry.example.invalid/openclaw ok via-proxy registry.example.invalid"
    ]


# Python 3.10's http.client leaves the socket of a refused CONNECT to the garbage
# collector (3.11 closes it); a one-shot CLI loses nothing by it, so only there it is let be.
F = TypeVar("F", bound=Callable[..., Any])


def connect_leak_of_3_10(test: F) -> F:
    if sys.version_info >= (3, 11):
        return test

    @functools.wraps(test)
    def collected(*args: Any, **kwargs: Any) -> Any:
        try:
            return test(*args, **kwargs)
        finally:
            gc.collect()  # the leaked socket goes now, inside this test's warning filter

    return pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")(collected)


@connect_leak_of_3_10
def test_https_proxy_is_used(world: StandIns, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", world.url)
    asking = network.Asker(Endpoints(npm="https://registry.example.invalid"), attempts=1)
    with pytest.raises(UpstreamUnreachable, match=r"^npm:openclaw: registry unreachable \(.*502"):
        asking.ask(parse("npm:openclaw"))
    assert world.requests() == ["CONNECT registry.example.invalid:443 refused"]


def test_no_proxy_is_honoured(world: StandIns, monkeypatch: pytest.MonkeyPatch) -> None:
    world.npm("openclaw", "2026.5.22")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UpstreamUnreachable, match=r"\(connection refused\)$"):
        asker(world).ask(parse("npm:openclaw"))  # the dead proxy is in the way
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert asker(world).ask(parse("npm:openclaw")).value == "2026.5.22"
    assert world.requests() == ["GET /openclaw ok"]


def test_user_agent_names_claw() -> None:
    agent = network.USER_AGENT
    assert agent == f"claw/{__version__} (livecheck)"


# --------------------------------------------------------------------------
# The stand-ins themselves: real git clients, and the separate process
# --------------------------------------------------------------------------


def fetch(world: StandIns, path: str) -> tuple[int, Any]:
    """GET ``path`` of the stand-ins: the status and the JSON document (None for a 404)."""
    try:
        with urllib.request.urlopen(world.url + path, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, None


def test_standin_npm_versions_engines_integrity_and_unpublish(world: StandIns) -> None:
    world.npm("openclaw", "1.0.0")
    world.npm("openclaw", "2.0.0", engines={"node": ">=22"})
    world.npm("@scope/tool", "0.1.0")
    status, document = fetch(world, "/openclaw")
    assert (status, document["dist-tags"]) == (200, {"latest": "2.0.0"})
    assert "engines" not in document["versions"]["1.0.0"]
    assert document["versions"]["2.0.0"]["engines"] == {"node": ">=22"}
    digest = hashlib.sha512(b"openclaw@2.0.0").digest()
    assert document["versions"]["2.0.0"]["dist"]["integrity"] == "sha512-" + base64.b64encode(digest).decode()
    assert document["versions"]["2.0.0"]["dist"]["shasum"] == hashlib.sha1(b"openclaw@2.0.0").hexdigest()
    assert fetch(world, "/openclaw/2.0.0") == (200, document["versions"]["2.0.0"])
    assert fetch(world, "/openclaw/latest") == (200, document["versions"]["2.0.0"])
    assert fetch(world, "/@scope%2ftool/0.1.0")[1]["version"] == "0.1.0"
    assert fetch(world, "/@scope/tool/0.1.0")[1]["version"] == "0.1.0"
    assert fetch(world, "/openclaw/9.9.9")[0] == 404
    world.unpublish("npm:openclaw", "2.0.0")  # the latest: the one before it takes its place
    assert fetch(world, "/openclaw/2.0.0")[0] == 404
    status, document = fetch(world, "/openclaw")
    assert (list(document["versions"]), document["dist-tags"]["latest"]) == (["1.0.0"], "1.0.0")
    world.unpublish("npm:openclaw", "1.0.0")
    assert fetch(world, "/openclaw")[0] == 404
    with pytest.raises(KeyError):
        world.unpublish("npm:openclaw", "1.0.0")


def test_standin_pypi_requires_python_and_unpublish(world: StandIns) -> None:
    world.pypi("nanobot-ai", "0.1.4")
    assert fetch(world, "/pypi/nanobot-ai/json")[1]["info"]["requires_python"] is None
    world.pypi("nanobot-ai", "0.2.0", requires_python=">=3.11")
    _, document = fetch(world, "/pypi/nanobot-ai/json")
    assert (document["info"]["version"], document["info"]["requires_python"]) == ("0.2.0", ">=3.11")
    world.unpublish("pypi:nanobot-ai", "0.2.0")
    _, document = fetch(world, "/pypi/nanobot-ai/json")
    assert (document["info"]["version"], list(document["releases"])) == ("0.1.4", ["0.1.4"])


def test_standin_holds_an_answer_until_released(world: StandIns) -> None:
    world.npm("openclaw", "1.0.0")
    held = world.hold("gate:step", times=1)
    answers: list[tuple[int, Any]] = []
    asking = threading.Thread(target=lambda: answers.append(fetch_text(world, "/gate/step")))
    asking.start()
    held.wait()
    assert answers == []  # arrived, and held
    held.release()
    asking.join(timeout=60)
    assert answers == [(200, "open\n")]
    assert fetch_text(world, "/gate/step") == (200, "open\n")  # held once only
    assert world.requests() == ["GET /gate/step held", "GET /gate/step ok"]


def fetch_text(world: StandIns, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(world.url + path, timeout=120) as answer:
        return answer.status, answer.read().decode()


def test_standin_serves_real_git_clients(world: StandIns, tmp_path: Path) -> None:
    repo = world.repo("nanoclaw")
    sha = repo.commit()
    clone = tmp_path / "clone"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "clone", "--quiet", repo.url, str(clone)], env=env, check=True, timeout=30)
    done = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == sha


def test_standins_as_a_process(tmp_path: Path) -> None:
    outside = standins.start([], tmp_path / "world")
    try:
        outside.npm("openclaw", "2026.5.22")
        outside.fault("npm:openclaw", status=500, times=1)
        asking = network.Asker(Endpoints(npm=outside.url), attempts=2, wait=tenacity.wait_none())
        assert asking.ask(parse("npm:openclaw")).value == "2026.5.22"
        outside.npm("openclaw", "2026.5.24")
        assert asking.ask(parse("npm:openclaw")).value == "2026.5.24"
        assert outside.requests() == ["GET /openclaw 500", "GET /openclaw ok", "GET /openclaw ok"]
    finally:
        outside.stop()
    assert outside.process is not None
    assert outside.process.returncode is not None


def test_a_name_that_does_not_exist_is_not_asked_again_but_a_resolver_that_did_not_answer_is() -> None:
    import socket

    from lib import asker

    gone = asker._network_failure(
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "registry", 10
    )
    assert (gone.detail, gone.transient) == ("registry unreachable (no such host)", False)
    later = asker._network_failure(socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), "registry", 10)
    assert (later.detail, later.transient, later.cap) == ("registry unreachable (DNS lookup failed)", True, 2)
