"""Runner versions: from a probe's output to a docker tag, and back from RepoTags.

A probe's output is data. Whatever it prints, the result is either a clean tag
``v<version>`` (characters ``[A-Za-z0-9_.-]``, at most 128) or ``None`` (the
refresh then fails). A runner with no probe gets ``built-<YYYYMMDD>-<id12>``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable

# The first token that looks like a version: an optional "v", digits with at
# least one dot, then an optional pre-release ("-rc.1") and build ("+3f2a9c1")
# suffix. It must start a token, so "python3.12" and "sha1.2" are not versions.
# A PEP 440 suffix follows the core directly and is kept (``0.4.0rc1``, ``0.1.4.post3``,
# ``1.0a2``, ``2.0.dev5``): a release candidate and its release never share a tag.
VERSION = re.compile(
    r"(?<![A-Za-z0-9_.+-])[vV]?(?P<core>\d+(?:\.\d+)+)"
    r"(?P<pep>(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?)"
    r"(?:-(?P<pre>[0-9A-Za-z][0-9A-Za-z.-]*))?"
    r"(?:\+(?P<build>[0-9A-Za-z][0-9A-Za-z.-]*))?"
)
TAG_MAX = 128
FALLBACK_PREFIX = "built-"
TEMPORARY_PREFIX = "claw-refresh-"


def version_tag(probe_output: str) -> str | None:
    """``OpenClaw 2026.5.22 (3f2a9c1)`` -> ``v2026.5.22``; ``1.2.3+g7`` -> ``v1.2.3-g7``."""
    match = VERSION.search(probe_output)
    if match is None:
        return None
    tag = "v" + match["core"] + match["pep"]
    if match["pre"]:
        tag += "-" + match["pre"]
    if match["build"]:
        tag += "-" + match["build"]
    return tag if len(tag) <= TAG_MAX else None


def short_id(image_id: str) -> str:
    """The first 12 hex digits of an image ID, as docker shows them."""
    return image_id.split(":", 1)[-1][:12]


def fallback_tag(image_id: str, when: datetime.datetime | None = None) -> str:
    """``built-<YYYYMMDD UTC>-<first 12 hex of the image ID>``."""
    day = (when or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    return f"{FALLBACK_PREFIX}{day:%Y%m%d}-{short_id(image_id)}"


def is_version_tag(tag: str) -> bool:
    return tag.startswith("v") and VERSION.fullmatch(tag) is not None


def tag_of(alias: str, repo_tags: Iterable[str]) -> str | None:
    """The version tag of ``alias`` among an image's RepoTags.

    A ``v<version>`` tag wins (the highest if several), then a ``built-...``
    tag (the newest); ``latest``, ``claw-refresh-*`` and anything else never
    count. ``None``: the alias needs a refresh.
    """
    tags = [ref.rsplit(":", 1)[1] for ref in repo_tags if ref.rsplit(":", 1)[0] == alias and ":" in ref]
    versions = [tag for tag in tags if is_version_tag(tag)]
    if versions:
        return max(versions, key=_natural)
    built = [tag for tag in tags if tag.startswith(FALLBACK_PREFIX)]
    return max(built) if built else None


def _natural(tag: str) -> tuple[tuple[int, int | str], ...]:
    # v0.10.0 > v0.9.9; a release sorts above its own pre-releases (v1.0.0 > v1.0.0-rc.1).
    # PEP 440: a, b, rc and .dev come before their release, .post after it.
    match = VERSION.fullmatch(tag)
    core = tuple((0, int(part)) for part in match["core"].split(".")) if match else ()
    pep = match["pep"] if match else ""
    suffix = (pep.removeprefix(".") if pep and ".post" not in pep else "") + (
        (match["pre"] or "") if match else tag
    )
    rest = tuple(
        (0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.-]|(?<=[a-z])(?=\d)", suffix) if p
    )
    post = (3, int(pep.rpartition(".post")[2].partition(".")[0])) if ".post" in pep else (2, "")
    return (*core, post if not suffix else (1, ""), *rest)


def is_versioned(tag: str) -> bool:
    """A tag that names one version of a runner: ``v<version>`` or ``built-...``."""
    return is_version_tag(tag) or tag.startswith(FALLBACK_PREFIX)


def sort_key(tag: str) -> tuple[tuple[int, int | str], ...]:
    """Orders version tags as versions (``v0.10.0`` after ``v0.9.9``)."""
    return _natural(tag)


def same_release(tag: str, answered: str, kind: str) -> bool:
    """Whether a probe's version tag and an upstream's answer name one release, each read
    as its registry reads versions: PEP 440 for PyPI (``v0.1.4.post3`` is ``0.1.4.post3``,
    ``1.0.0`` is ``1.0``), semver for npm (a leading ``v`` or ``=`` is not part of it)."""
    probe = tag.removeprefix("v")
    if kind == "pypi":
        from packaging.version import InvalidVersion, Version

        try:
            return Version(probe) == Version(answered)
        except InvalidVersion:
            return probe == answered
    # the tag turned semver's "+build" into "-build": compare what both keep
    return probe.replace("+", "-").lower() == answered.lstrip("v=").replace("+", "-").lower()
