"""Registry digests of image references, asked through the docker CLI alone (SPEC §9.3).

The digest that matters is the one ``docker pull <ref>`` records in the image's
``RepoDigests`` (``refs.digests_for`` reads it there): for a multi-platform index that
is the digest of the index, not of the platform's manifest. ``remote_digest`` learns it
without downloading any layer. With buildx, ``docker buildx imagetools inspect`` prints
the digest of whatever the tag names. Without it, ``docker manifest inspect --verbose``
prints a single manifest's digest, but for an index only the manifests it lists; then
the index is compared, manifest by manifest, with the one recorded earlier.

Nothing is asked for a digest-pinned reference (``image@sha256:...``). The commands
are run by the caller (``Engine.ask_registry``), which also retries them; this module
parses their JSON, and the grammar of the references is ``refs.py``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import refs
from ..errors import PermanentError, UnexpectedOutput
from .argv import imagetools_args, manifest_args
from .process import Result

Ask = Callable[[Sequence[str]], Result]
"""Runs ``docker ARGS`` that ask a registry; a failure is the engine's ``DockerError``."""

LOCAL_LIST_HINT = (
    "a manifest list of that name made with `docker manifest create` hides the registry's "
    "from `docker manifest inspect`; remove it with: docker manifest rm {ref}"
)


@dataclass(frozen=True)
class RemoteAnswer:
    """What the registry names now for a reference, compared with a recorded digest.

    - digest known: ``digest`` is the digest a pull would record now; ``moved`` is
      whether it differs from the recorded one (``None`` when none was given);
    - unchanged: ``moved is False`` and ``digest`` is the recorded digest (without
      buildx an index is found unchanged by comparing its manifests);
    - moved, digest unknown: ``moved is True`` and ``digest is None`` (an index that
      changed, asked without buildx);
    - undecided: ``digest is None`` and ``moved is None`` (an index, asked without
      buildx and with nothing recorded to compare it with).

    Only ``moved is False`` means unchanged: anything else must not count as current.
    ``pinned``: the reference names its digest, and nothing was asked."""

    digest: str | None
    moved: bool | None
    pinned: bool = False

    @classmethod
    def known(cls, digest: str, recorded: str | None, *, pinned: bool = False) -> RemoteAnswer:
        return cls(digest, None if recorded is None else digest != recorded, pinned)

    @property
    def unchanged(self) -> bool:
        return self.moved is False


def remote_digest(ask: Ask, ref: str, *, buildkit: bool, recorded: str | None = None) -> RemoteAnswer:
    """Ask the registry what ``ref`` names now, downloading no layer and nothing into
    the engine (the CLI reads manifests, and without buildx also the small image configs).

    ``buildkit``: buildx is there, so ``docker buildx imagetools inspect`` names the
    digest of manifest and index alike. Otherwise ``docker manifest inspect --verbose``:
    a single manifest's digest is printed; an index's is not, so when ``recorded`` (a
    digest, or a reference ending in ``@<digest>``) is given, ``<name>@<recorded>`` is
    inspected too and the two compared by their manifests (platform and digest each):
    the same set means unchanged, anything else moved. An index re-pushed with the same
    manifests (new annotations, another order) is unchanged by that measure, while a
    pull would record a new digest: the images docker would run are the same.
    When ``<name>@<recorded>`` is no longer in the registry at all (a permanent error
    after the tag itself answered), the tag cannot name it: moved.

    Failures are the engine's ``DockerError``s, output that is not what the CLI
    documents a ``PermanentError`` carrying why."""
    name = refs.split(ref)
    before = refs.digest_of(recorded) if recorded is not None else None
    if name.digest:
        return RemoteAnswer.known(name.digest, before, pinned=True)
    if buildkit:
        return RemoteAnswer.known(_imagetools_digest(ask, ref), before)
    now = _manifests(ask, ref)
    if now.digest is not None:
        return RemoteAnswer.known(now.digest, before)
    if before is None:
        return RemoteAnswer(None, None)
    if _same_index(ask, ref, now, before):
        return RemoteAnswer(before, moved=False)
    return RemoteAnswer(None, moved=True)


def _same_index(ask: Ask, ref: str, now: Manifests, recorded: str) -> bool:
    """Whether the index ``now`` (what ``ref`` names) lists what ``<name>@<recorded>`` lists."""
    name = refs.repository(ref)
    try:
        then = _manifests(ask, f"{name}@{recorded}")
    except PermanentError:
        return False  # gone from the registry: the tag cannot name it
    return then.digest is None and then.entries == now.entries


# -- the two commands and their output ---------------------------------------


def _imagetools_digest(ask: Ask, ref: str) -> str:
    result = ask(imagetools_args(ref))
    try:
        return parse_imagetools(result.stdout)
    except UnexpectedOutput as exc:
        raise _unexpected(result, exc) from None


def _manifests(ask: Ask, ref: str) -> Manifests:
    result = ask(manifest_args(ref))
    try:
        return parse_manifest_inspect(result.stdout, ref)
    except UnexpectedOutput as exc:
        raise _unexpected(result, exc) from None


def _unexpected(result: Result, exc: UnexpectedOutput) -> PermanentError:
    return PermanentError(
        result.argv, result.exit_code, result.stdout, f"{result.stderr}\n{exc}", hint=exc.hint
    )


def parse_imagetools(stdout: str) -> str:
    """The digest in ``docker buildx imagetools inspect --format '{{json .Manifest}}'``:
    a descriptor ``{"mediaType", "digest", "size"}`` for a single manifest; for an
    index the same plus ``schemaVersion`` and ``manifests``. Either way ``digest`` is
    what a pull records."""
    data = _json(stdout)
    digest = data.get("digest") if isinstance(data, dict) else None
    if not isinstance(digest, str) or not refs.DIGEST.fullmatch(digest):
        raise UnexpectedOutput("unexpected `imagetools inspect` output: no digest")
    return digest


@dataclass(frozen=True)
class Manifests:
    """What ``docker manifest inspect --verbose`` says a reference names.

    ``digest``: a single manifest's own digest; ``None`` for an index, whose digest the
    CLI does not print. ``entries``: (platform as canonical JSON, digest) of each
    manifest, for comparing two indexes."""

    digest: str | None
    entries: frozenset[tuple[str, str]]


def parse_manifest_inspect(stdout: str, ref: str) -> Manifests:
    """Parse ``docker manifest inspect --verbose <ref>``.

    A single manifest prints one object, ``{"Ref", "Descriptor": {"digest", "platform",
    ...}, "Raw", "SchemaV2Manifest" | "OCIManifest"}``, ``Ref`` being ``ref``
    normalised. An index prints a list of such objects, one per manifest, each ``Ref``
    being ``ref@<that manifest's digest>``. A list whose ``Ref``s are anything else
    came from the CLI's local store of lists (``docker manifest create``), which the
    CLI reads before the registry: refused, with the way out."""
    data = _json(stdout)
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        raise UnexpectedOutput("unexpected `manifest inspect` output")
    entries = [_entry(item) for item in items]
    asked = refs.split(ref)
    for printed, digest, _ in entries:
        expected = asked.digest if not isinstance(data, list) else digest
        if not _names_same(printed, asked, expected):
            raise UnexpectedOutput(
                f"`docker manifest inspect {ref}` answered with {printed}, not from the registry",
                hint=LOCAL_LIST_HINT.format(ref=ref),
            )
    pairs = frozenset((platform, digest) for _, digest, platform in entries)
    return Manifests(None if isinstance(data, list) else entries[0][1], pairs)


def _entry(item: dict[str, Any]) -> tuple[str, str, str]:
    """(Ref as printed, descriptor digest, platform as canonical JSON) of one manifest."""
    printed = item.get("Ref")
    descriptor = item.get("Descriptor")
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(printed, str) or not isinstance(digest, str) or not refs.DIGEST.fullmatch(digest):
        raise UnexpectedOutput("unexpected `manifest inspect` output: no Ref or Descriptor digest")
    platform = descriptor.get("platform") if isinstance(descriptor, dict) else None
    return printed, digest, json.dumps(platform or {}, sort_keys=True, separators=(",", ":"))


def _names_same(printed: str, asked: refs.Name, digest: str | None) -> bool:
    """Whether ``printed`` is ``asked`` (its tag defaulting to ``latest`` as the CLI's
    does) with ``digest``."""
    if not refs.is_valid(printed):
        return False
    got = refs.split(printed)
    tag = asked.tag or (None if asked.digest else "latest")
    return (got.canonical, got.tag, got.digest) == (asked.canonical, tag, digest)


def _json(stdout: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        raise UnexpectedOutput("the output is not JSON") from None
