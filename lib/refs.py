"""Docker image references: their grammar, and the names claw derives from them.

The grammar follows the distribution ``reference`` package that docker uses:
``[host[:port]/]path[:tag][@digest]`` with lower-case path components. ``split``
normalises a reference as docker does (``node:22-slim`` is ``docker.io/library/node``,
tag ``22-slim``); ``pullable``, ``short_name``, ``canonical_name`` and ``qualified_name``
name it the ways claw prints and records it; ``same_repository`` compares two;
``digests_for`` reads ``RepoDigests``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InputError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

DIGEST = re.compile(_DIGEST)
DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PATH = "library/"  # Docker Hub's official images: node -> library/node
REFERENCE = re.compile(
    rf"^(?P<name>(?:(?P<host>{_HOST})/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
NAME_MAX = 255


@dataclass(frozen=True)
class Ref:
    name: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse(ref: str) -> Ref | None:
    """Split a reference; ``None`` when it is not a valid one.

    A first component that looks like a host (has ``.`` or ``:`` or is
    ``localhost``) is a registry; otherwise the whole thing is a path.
    """
    match = REFERENCE.fullmatch(ref)
    if match is None or len(match["name"]) > NAME_MAX:
        return None
    host = match["host"]
    if host and not is_host(host) and host != host.lower():
        # "Library/x" parsed its first component as a host; it is a path
        # component, and those are lower-case.
        return None
    return Ref(match["name"], match["tag"], match["digest"])


def is_host(component: str) -> bool:
    """Whether the first component of a name is a registry host: it holds ``.`` or
    ``:``, is ``localhost``, or is a bracketed IPv6 address."""
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


def is_tag(text: str) -> bool:
    """A legal docker tag (``[A-Za-z0-9_][A-Za-z0-9_.-]``, at most 128 characters)."""
    return re.fullmatch(_TAG, text) is not None


def is_valid(ref: str) -> bool:
    return parse(ref) is not None


def repository(ref: str) -> str:
    """The name part: ``openclaw:v1`` -> ``openclaw``."""
    parsed = parse(ref)
    if parsed is None:
        raise ValueError(f"not an image reference: {ref!r}")
    return parsed.name


def sanitize_name(text: str) -> str:
    """Lower-case; runs of characters outside ``a-z0-9._-`` become ``-``;
    leading and trailing separators are dropped so the result is a valid path
    component whenever ``text`` holds any letter or digit."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    name = re.sub(r"[._-]*([._-])[._-]*", _collapse, name)
    return name.strip("._-")


def _collapse(match: re.Match[str]) -> str:
    # A run of mixed separators is only legal as dashes ("a.-b" is not a valid
    # component, "a--b" is); a single "." or "_" stays as it was.
    run = match.group(0)
    return run if run in {".", "_", "__"} or set(run) == {"-"} else "-"


@dataclass(frozen=True)
class Name:
    """A reference split the way docker normalises it: ``node:22-slim`` is
    domain ``docker.io``, path ``library/node``, tag ``22-slim``."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def canonical(self) -> str:
        """``docker.io/library/node``: the repository, fully qualified."""
        return f"{self.domain}/{self.path}"

    @property
    def qualified(self) -> str:
        """``docker.io/library/node:22-slim``: the repository fully qualified, with the tag
        as written (none for a reference pinned by digest alone)."""
        return f"{self.canonical}:{self.tag}" if self.tag else self.canonical

    @property
    def familiar(self) -> str:
        """``node``: the repository as docker prints it (``RepoTags``)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.canonical
        official = self.path.removeprefix(OFFICIAL_PATH)
        return official if "/" not in official else self.path


def split(ref: str) -> Name:
    """Split ``ref`` as docker does (distribution's ``ParseNormalizedNamed``).

    The first path component is a registry host when it holds ``.`` or ``:``
    or is ``localhost``; otherwise the registry is Docker Hub, where a name of
    one component is an official image under ``library/``."""
    parsed = parse(ref)
    if parsed is None:
        raise InputError(f"not an image reference: {ref!r}")
    first, _, rest = parsed.name.partition("/")
    if rest and is_host(first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, parsed.name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PATH + path
    return Name(domain, path, parsed.tag, parsed.digest)


def canonical_name(ref: str) -> str:
    """``node:22-slim`` -> ``docker.io/library/node``."""
    return split(ref).canonical


def same_repository(ref: str, other: str) -> bool:
    """Whether two references name one repository, tags and digests aside:
    ``node:22-slim`` and ``docker.io/library/node@sha256:...`` do."""
    return canonical_name(ref) == canonical_name(other)


def qualified_name(ref: str) -> str:
    """``node:22-slim`` -> ``docker.io/library/node:22-slim``, as the OCI base name of an
    image built FROM it (the official images name their own base so); the digest of a
    pinned reference is left out: ``node@sha256:...`` -> ``docker.io/library/node``."""
    return split(ref).qualified


def pullable(ref: str, digest: str) -> str:
    """The fully qualified reference that pulls exactly ``digest``, keeping the tag
    it was resolved from: ``node:22-slim`` -> ``docker.io/library/node:22-slim@sha256:...``,
    ``sipeed/picoclaw`` -> ``docker.io/sipeed/picoclaw@sha256:...``; a registry host is
    kept (``127.0.0.1:5000/upstream/x:latest@sha256:...``). Docker pulls the digest and
    ignores the tag; the tag says what the digest was the answer to."""
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"not a digest: {digest!r}")
    return f"{qualified_name(ref)}@{digest}"


def short_name(ref: str) -> str:
    """For messages: ``docker.io/library/node:22-slim@sha256:...`` -> ``node:22-slim``.
    A reference pinned by digest alone keeps 12 hex digits: ``node@sha256:0123456789ab``."""
    name = split(ref)
    if name.tag:
        return f"{name.familiar}:{name.tag}"
    if name.digest:
        algorithm, _, hexdigits = name.digest.partition(":")
        return f"{name.familiar}@{algorithm}:{hexdigits[:12]}"
    return name.familiar


def digest_of(value: str) -> str:
    """The digest in ``value``: a bare digest, or a reference ending in ``@<digest>``."""
    digest = value.rpartition("@")[2]
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"no digest in {value!r}")
    return digest


def digests_for(ref: str, repo_digests: Sequence[str]) -> tuple[str, ...]:
    """Every digest in ``repo_digests`` (``RepoDigests`` of ``docker image inspect``:
    ``node@sha256:...``, ``127.0.0.1:5000/upstream/x@sha256:...``) recorded for the
    repository of ``ref``, in order. Names are compared normalised."""
    wanted = split(ref).canonical
    found: list[str] = []
    for entry in repo_digests:
        name, at, digest = entry.rpartition("@")
        if at and DIGEST.fullmatch(digest) and is_valid(name) and split(name).canonical == wanted:
            found.append(digest)
    return tuple(dict.fromkeys(found))


def digest_from_repo_digests(ref: str, repo_digests: Sequence[str]) -> str | None:
    """The digest ``RepoDigests`` records for the repository of ``ref``; ``None`` when it
    records none, or several (a tag that moved from a manifest to an index listing that
    same manifest leaves both on the one image, and nothing says which is current)."""
    found = digests_for(ref, repo_digests)
    return found[0] if len(found) == 1 else None
