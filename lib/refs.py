"""Docker image references: validation and the small pieces claw derives from them.

The grammar follows the distribution ``reference`` package that docker uses:
``[host[:port]/]path[:tag][@digest]`` with lower-case path components.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

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
    looks_like_host = host and ("." in host or ":" in host or host == "localhost" or host.startswith("["))
    if host and not looks_like_host and host != host.lower():
        # "Library/x" parsed its first component as a host; it is a path
        # component, and those are lower-case.
        return None
    return Ref(match["name"], match["tag"], match["digest"])


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


def with_default_tag(ref: str) -> str:
    """``busybox`` -> ``busybox:latest``; refs with a tag or digest are unchanged."""
    parsed = parse(ref)
    if parsed is None or parsed.tag or parsed.digest:
        return ref
    return f"{ref}:latest"


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
