"""Registry digests of image references, learned through the docker CLI alone (SPEC §9.3).

The digest that matters is the one ``docker pull <ref>`` records in the image's
``RepoDigests``: for a multi-platform index that is the digest of the index,
not of the platform's manifest. Two ways to learn it:

- ``pulled_digest``: after a pull, from ``docker image inspect``.
- ``remote_digest``: without downloading any layer. With buildx,
  ``docker buildx imagetools inspect`` prints the digest of whatever the tag
  names. Without it, ``docker manifest inspect --verbose`` prints a single
  manifest's digest, but for an index only the manifests it lists; then the
  index is compared, manifest by manifest, with the one recorded earlier.

Neither asks anything for a digest-pinned reference (``image@sha256:...``).
Both parse JSON only. The small pure helpers name things the way docker does:
``pullable`` (``docker.io/library/node:22-slim@sha256:...``) and ``short_name``
(``node:22-slim``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import refs
from ..classify import RetryNotice, retrying
from ..errors import InputError, NoSuchImage, PermanentError
from .docker import QUICK_TIMEOUT, Engine
from .process import Result

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PATH = "library/"  # Docker Hub's official images: node -> library/node
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-f]{32,}")
LOCAL_LIST_HINT = (
    "a manifest list of that name made with `docker manifest create` hides the registry's "
    "from `docker manifest inspect`; remove it with: docker manifest rm {ref}"
)


# -- names -----------------------------------------------------------------


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
    parsed = refs.parse(ref)
    if parsed is None:
        raise InputError(f"not an image reference: {ref!r}")
    first, _, rest = parsed.name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
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


def pullable(ref: str, digest: str) -> str:
    """The fully qualified reference that pulls exactly ``digest``, keeping the tag
    it was resolved from: ``node:22-slim`` -> ``docker.io/library/node:22-slim@sha256:...``,
    ``sipeed/picoclaw`` -> ``docker.io/sipeed/picoclaw@sha256:...``; a registry host is
    kept (``127.0.0.1:5000/upstream/x:latest@sha256:...``). Docker pulls the digest and
    ignores the tag; the tag says what the digest was the answer to."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a digest: {digest!r}")
    name = split(ref)
    return f"{name.canonical}{f':{name.tag}' if name.tag else ''}@{digest}"


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
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"no digest in {value!r}")
    return digest


def insecure_registry(ref: str) -> bool:
    """Whether ``docker pull`` reaches the registry of ``ref`` over plain HTTP without any
    configuration: the engine treats ``127.0.0.0/8`` as insecure by default
    (``InsecureRegistryCIDRs`` in ``docker info``), and ``localhost`` resolves there.

    ``docker manifest inspect`` runs in the CLI, which knows nothing of the engine's
    setting: for such a registry it tries HTTPS only and then says ``no such manifest``
    (seen with a plain-HTTP registry on 127.0.0.1). ``--insecure`` lets it fall back to
    HTTP and skip certificate checks, which is what the engine does there. It is given
    for these registries only, never for one the engine checks TLS for. ``[::1]`` is not
    in the engine's default range, so it is not insecure either. (buildx's imagetools
    needs nothing: it speaks plain HTTP to loopback registries by itself.)"""
    domain = split(ref).domain
    if domain.startswith("["):
        return False
    host = domain.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address in ipaddress.ip_network("127.0.0.0/8")


# -- after a pull: RepoDigests ---------------------------------------------


def digests_for(ref: str, repo_digests: Sequence[str]) -> tuple[str, ...]:
    """Every digest in ``repo_digests`` (``RepoDigests`` of ``docker image inspect``:
    ``node@sha256:...``, ``127.0.0.1:5000/upstream/x@sha256:...``) recorded for the
    repository of ``ref``, in order. Names are compared normalised."""
    wanted = split(ref).canonical
    found: list[str] = []
    for entry in repo_digests:
        name, at, digest = entry.rpartition("@")
        if at and _DIGEST.fullmatch(digest) and refs.is_valid(name) and split(name).canonical == wanted:
            found.append(digest)
    return tuple(dict.fromkeys(found))


def digest_from_repo_digests(ref: str, repo_digests: Sequence[str]) -> str | None:
    """The digest ``RepoDigests`` records for the repository of ``ref``; ``None`` when it
    records none, or several (a tag that moved from a manifest to an index listing that
    same manifest leaves both on the one image, and nothing says which is current)."""
    found = digests_for(ref, repo_digests)
    return found[0] if len(found) == 1 else None


def pulled_digest(engine: Engine, ref: str, *, buildkit: bool | None = None) -> str | None:
    """The digest the last ``docker pull <ref>`` recorded on this engine.

    A digest-pinned ``ref`` is its own answer. ``None`` when the image is not on the
    engine, or carries no digest for that repository (built locally, never pulled).
    When ``RepoDigests`` holds several for the repository, the registry is asked
    which one the tag names now (``remote_digest``, with buildx when ``buildkit``;
    ``None``: as the engine's BuildKit fact says); ``None`` if it names none of them."""
    name = split(ref)
    if name.digest:
        return name.digest
    argv = engine.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref)
    try:
        result = engine.run(argv, timeout=QUICK_TIMEOUT)
    except NoSuchImage:
        return None
    found = digests_for(ref, _repo_digests(result))
    if len(found) <= 1:
        return found[0] if found else None
    with_buildx = engine.buildkit() if buildkit is None else buildkit
    return _current_of(engine, ref, found, buildkit=with_buildx)


def _repo_digests(result: Result) -> list[str]:
    try:
        value = json.loads(result.stdout.strip() or "null")
    except json.JSONDecodeError:
        value = "not json"
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PermanentError(
            result.argv, result.exit_code, result.stdout, result.stderr + "\nunexpected RepoDigests"
        )
    return value


def _current_of(engine: Engine, ref: str, candidates: Sequence[str], *, buildkit: bool) -> str | None:
    if buildkit:
        digest = _imagetools_digest(engine, ref)
        return digest if digest in candidates else None
    now = _manifests(engine, ref)
    if now.digest is not None:
        return now.digest if now.digest in candidates else None
    for candidate in candidates:
        if _same_index(engine, ref, now, candidate):
            return candidate
    return None


# -- without a pull: the registry, through the CLI --------------------------


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


def remote_digest(
    engine: Engine,
    ref: str,
    *,
    buildkit: bool,
    recorded: str | None = None,
    attempts: int = 1,
    on_retry: RetryNotice | None = None,
) -> RemoteAnswer:
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

    Failures are the engine's ``DockerError``s; transient ones are retried up to
    ``attempts`` times in all."""
    name = split(ref)
    before = digest_of(recorded) if recorded is not None else None
    if name.digest:
        return RemoteAnswer.known(name.digest, before, pinned=True)
    for attempt in retrying(attempts, on_retry, engine.retry_wait):
        with attempt:
            return _ask(engine, ref, buildkit=buildkit, recorded=before)
    raise AssertionError("retrying() returns or raises")  # pragma: no cover


def _ask(engine: Engine, ref: str, *, buildkit: bool, recorded: str | None) -> RemoteAnswer:
    if buildkit:
        return RemoteAnswer.known(_imagetools_digest(engine, ref), recorded)
    now = _manifests(engine, ref)
    if now.digest is not None:
        return RemoteAnswer.known(now.digest, recorded)
    if recorded is None:
        return RemoteAnswer(None, None)
    if _same_index(engine, ref, now, recorded):
        return RemoteAnswer(recorded, moved=False)
    return RemoteAnswer(None, moved=True)


def _same_index(engine: Engine, ref: str, now: Manifests, recorded: str) -> bool:
    """Whether the index ``now`` (what ``ref`` names) lists what ``<name>@<recorded>`` lists."""
    name = refs.repository(ref)
    try:
        then = _manifests(engine, f"{name}@{recorded}")
    except PermanentError:
        return False  # gone from the registry: the tag cannot name it
    return then.digest is None and then.entries == now.entries


# -- the two commands and their output ---------------------------------------


def imagetools_argv(ref: str) -> tuple[str, ...]:
    return ("buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", ref)


def manifest_argv(ref: str) -> tuple[str, ...]:
    insecure = ("--insecure",) if insecure_registry(ref) else ()
    return ("manifest", "inspect", "--verbose", *insecure, ref)


def _imagetools_digest(engine: Engine, ref: str) -> str:
    result = _registry_call(engine, imagetools_argv(ref))
    try:
        return parse_imagetools(result.stdout)
    except UnexpectedOutput as exc:
        raise _unexpected(result, exc) from None


def _manifests(engine: Engine, ref: str) -> Manifests:
    result = _registry_call(engine, manifest_argv(ref))
    try:
        return parse_manifest_inspect(result.stdout, ref)
    except UnexpectedOutput as exc:
        raise _unexpected(result, exc) from None


def _registry_call(engine: Engine, args: Sequence[str]) -> Result:
    return engine.run(engine.docker(*args), timeout=QUICK_TIMEOUT, stoppable=True)


def _unexpected(result: Result, exc: UnexpectedOutput) -> PermanentError:
    return PermanentError(
        result.argv, result.exit_code, result.stdout, f"{result.stderr}\n{exc}", hint=exc.hint
    )


class UnexpectedOutput(ValueError):
    """The CLI printed something other than the documented JSON."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def parse_imagetools(stdout: str) -> str:
    """The digest in ``docker buildx imagetools inspect --format '{{json .Manifest}}'``:
    a descriptor ``{"mediaType", "digest", "size"}`` for a single manifest; for an
    index the same plus ``schemaVersion`` and ``manifests``. Either way ``digest`` is
    what a pull records."""
    data = _json(stdout)
    digest = data.get("digest") if isinstance(data, dict) else None
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
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
    asked = split(ref)
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
    if not isinstance(printed, str) or not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise UnexpectedOutput("unexpected `manifest inspect` output: no Ref or Descriptor digest")
    platform = descriptor.get("platform") if isinstance(descriptor, dict) else None
    return printed, digest, json.dumps(platform or {}, sort_keys=True, separators=(",", ":"))


def _names_same(printed: str, asked: Name, digest: str | None) -> bool:
    """Whether ``printed`` is ``asked`` (its tag defaulting to ``latest`` as the CLI's
    does) with ``digest``."""
    if not refs.is_valid(printed):
        return False
    got = split(printed)
    tag = asked.tag or (None if asked.digest else "latest")
    return (got.canonical, got.tag, got.digest) == (asked.canonical, tag, digest)


def _json(stdout: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        raise UnexpectedOutput("the output is not JSON") from None
