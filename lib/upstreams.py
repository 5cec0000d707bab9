"""Upstreams: what an npm package, a PyPI project or a git ref names as current (SPEC §9.2).

An upstream is written ``npm:<package>``, ``pypi:<project>`` or ``git:<url>[#<ref>]``.
What it names is an ``Answer``, whose ``record()`` is the value of a
``claw.base.upstream.<i>`` label, e.g. ``npm:openclaw@2026.5.22``. Asking over the
network is ``asker.py``'s (its imports are heavy; this module stays light). Failures
are ``errors.UpstreamError``s; the transient ones (``UpstreamUnreachable``) are retried.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

KINDS = ("npm", "pypi", "git")
NPM_PUBLIC = "https://registry.npmjs.org"
PYPI_PUBLIC = "https://pypi.org"

_NPM_NAME = re.compile(r"(?:@[A-Za-z0-9~-][A-Za-z0-9._~-]*/)?[A-Za-z0-9~-][A-Za-z0-9._~-]*")
_PYPI_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/%+@-]+")
_GIT_REF = re.compile(r"[A-Za-z0-9._/+-]{1,200}")
_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,128}")
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SPEC_HELP = "expected npm:<package>, pypi:<project> or git:<http(s) url>[#<ref>]"


# What an upstream is, and what it answered


@dataclass(frozen=True)
class Upstream:
    """One upstream. For git, ``ref`` is a branch, a tag or a ``refs/...`` name; None is HEAD."""

    kind: str
    name: str
    ref: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "git" and self.ref == "HEAD":
            object.__setattr__(self, "ref", None)  # `#HEAD` and no ref are the same question
        problem = _problem(self.kind, self.name, self.ref)
        if problem is not None:
            raise ValueError(f"upstream {shorten(self.spec)!r}: {problem}")

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.name}" + ("" if self.ref is None else f"#{self.ref}")

    def __str__(self) -> str:
        return self.spec

    @property
    def arg(self) -> str:
        """The build argument that carries this upstream's answer into a build (SPEC §12.1):
        ``CLAW_UPSTREAM_`` + the package or repository name upper-cased, every run of other
        characters one ``_`` (``npm:@anthropic-ai/claude-code`` -> ``..._ANTHROPIC_AI_CLAUDE_CODE``)."""
        name = self.name
        if self.kind == "git":
            name = name.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        return ARG_PREFIX + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


ARG_PREFIX = "CLAW_UPSTREAM_"
BEFORE_ARG = ARG_PREFIX + "BEFORE"  # the time fence: when the last answer came in


def parse(spec: str) -> Upstream:
    """Read ``npm:<package>``, ``pypi:<project>`` or ``git:<url>[#<ref>]``; ValueError if malformed."""
    kind, colon, rest = spec.partition(":")
    if not colon or kind not in KINDS:
        raise ValueError(f"upstream {shorten(spec)!r}: unknown kind; {_SPEC_HELP}")
    name, hash_, ref = rest.partition("#")
    return Upstream(kind, name, ref if hash_ else None)


def _problem(kind: str, name: str, ref: str | None) -> str | None:
    if kind not in KINDS:
        return f"unknown kind; {_SPEC_HELP}"
    if not name:
        return f"no name after '{kind}:'"
    if any(c.isspace() or not c.isprintable() for c in name + (ref or "")):
        return "contains whitespace or control characters"
    if kind != "git":
        if ref is not None:
            return "only git upstreams take a #ref"
        pattern, what = (_NPM_NAME, "an npm package") if kind == "npm" else (_PYPI_NAME, "a PyPI project")
        ok = len(name) <= 214 and pattern.fullmatch(name) is not None
        return None if ok else f"{name!r} is not {what} name"
    return _git_url_problem(name) or (None if ref is None else _git_ref_problem(ref))


def _git_url_problem(url: str) -> str | None:
    if not url.startswith(("https://", "http://")):
        return "a git upstream needs an http:// or https:// URL (smart HTTP)"
    if len(url) > 512 or not _URL_CHARS.fullmatch(url):
        return "the git URL has characters outside [A-Za-z0-9._~:/%+@-]"
    parts = _split(url)
    if parts is None:
        return "the git URL does not parse"
    if not parts.hostname:
        return "the git URL names no host"
    if "@" in parts.netloc:
        return "credentials in a git URL would be recorded in image labels; use a credential-free URL"
    return None


def _git_ref_problem(ref: str) -> str | None:
    ok = _GIT_REF.fullmatch(ref) and ".." not in ref and "//" not in ref
    ok = ok and not ref.startswith(("-", "/", ".")) and not ref.endswith(("/", ".", ".lock"))
    return None if ok else f"{ref!r} is not a git ref name"


def _split(url: str) -> urllib.parse.SplitResult | None:
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises for a bad port
    except ValueError:
        return None
    return parts


@dataclass(frozen=True)
class Answer:
    """What an upstream named as current: a version (npm, PyPI) or a commit sha (git)."""

    upstream: Upstream
    value: str
    # From the same answer, when the upstream says: npm's dist.integrity of that version
    # (git: the commit itself), and the runtime it declares ("node >=24.16.0", "python >=3.11").
    integrity: str | None = field(default=None, compare=False)
    runtime: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not value_ok(self.upstream.kind, self.value):
            raise ValueError(f"{self.upstream}: {shorten(self.value)!r} is not a version or commit sha")

    def record(self) -> str:
        """The label value: ``npm:openclaw@2026.5.22``, ``git:<url>#main@<sha>``."""
        up = self.upstream
        head = f"git:{up.name}#{up.ref or 'HEAD'}" if up.kind == "git" else up.spec
        return f"{head}@{self.value}"

    def display(self) -> str:
        """For messages: ``npm:openclaw 2026.5.22``, a git sha shortened to 12."""
        return f"{self.upstream} {self.value[:12] if self.upstream.kind == 'git' else self.value}"


def parse_record(text: str) -> Answer | None:
    """Read a label value written by ``Answer.record``; None for anything else (labels are untrusted)."""
    if not isinstance(text, str) or len(text) > 1024:
        return None
    head, at, value = text.rpartition("@")  # npm scopes start with '@': the version follows the last one
    if not at:
        return None
    try:
        return Answer(parse(head), value)
    except ValueError:
        return None


def value_ok(kind: str, value: str) -> bool:
    pattern = SHA if kind == "git" else _VERSION
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# Where to ask


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the npm registry and of PyPI, without a trailing slash."""

    npm: str = NPM_PUBLIC
    pypi: str = PYPI_PUBLIC


def endpoints(
    npm: str | None = None, pypi: str | None = None, environ: Mapping[str, str] | None = None
) -> Endpoints:
    """Config values first, then ``NPM_CONFIG_REGISTRY`` / ``npm_config_registry``, then the public ones."""
    env = os.environ if environ is None else environ
    npm_choices = [("[livecheck] npm", npm)]
    npm_choices += [(key, env.get(key)) for key in ("NPM_CONFIG_REGISTRY", "npm_config_registry")]
    return Endpoints(
        npm=_endpoint(npm_choices, NPM_PUBLIC),
        pypi=_endpoint([("[livecheck] pypi", pypi)], PYPI_PUBLIC),
    )


def _endpoint(choices: list[tuple[str, str | None]], default: str) -> str:
    chosen = next(((source, value.strip()) for source, value in choices if value and value.strip()), None)
    if chosen is None:
        return default
    source, url = chosen[0], chosen[1].rstrip("/")
    parts = _split(url)
    ok = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
    if not ok or "?" in url or "#" in url:
        raise ValueError(f"{source}: {shorten(chosen[1])!r} is not an http(s) base URL")
    if parts is not None and "@" in parts.netloc:
        raise ValueError(f"{source}: credentials in the URL are not supported")
    return url
