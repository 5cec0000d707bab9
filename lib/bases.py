"""The lifecycle of a runner base: the refresh transaction (SPEC §3.1) and pruning.

Nothing an operator can see changes until the new image has been built,
inspected and has reported its version: only then is it tagged
``<alias>:<version>`` and ``<alias>:latest``. The temporary tag is always
removed; a failure at any step leaves the alias exactly as it was.
Refreshes of one alias are serialised on the host (``locks``).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shlex
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import clawfile, livecheck, lockfile, locks, runners, runtimes, versions
from .engine import digests, lock
from .engine.argv import BuildArg
from .engine.docker import Engine, Image, Listed
from .errors import (
    ClawError,
    DockerError,
    DockerTimeout,
    EngineUnreachable,
    InputError,
    Interrupted,
    NotAttempted,
    RegistryBlocked,
)
from .events import Events, retry_notice
from .files import OutputLog
from .policy import Options
from .runners import Runner
from .status import Status
from .upstreams import Answer, Upstream, UpstreamError
from .versions import short_id

if TYPE_CHECKING:
    from .asker import Asker


class RefreshFailed(ClawError):
    """A step of the transaction failed; the message is the reason shown to the operator."""


@dataclass(frozen=True)
class Installed:
    """What ``<alias>:latest`` is."""

    image_id: str
    version: str | None  # its version tag; None when built by hand (needs a refresh)


class Unknown:
    """The alias could not be read (say, the engine went away)."""


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Outcome:
    runner: Runner
    status: Status  # INSTALLED | REBUILT | FAILED | NOT_ATTEMPTED
    previous: Installed | Unknown | None = None
    version: str | None = None
    image_id: str | None = None
    reason: str | None = None
    hint: str | None = None
    log: Path | None = None
    removed: tuple[str, ...] = ()
    why: tuple[str, ...] = ()  # what moved upstream (livecheck), for the line
    steady: tuple[str, ...] = ()  # what held, for an up-to-date line
    doing: str = "refresh"  # what failed, for the line: refresh | rollback | "" (the reason says)
    direction: str = "back"  # where a rollback moved latest: back | forward (to a newer version)
    locked: str | None = None  # claw.lock: the lock-<hash> tag of the base
    available: tuple[str, ...] = ()  # claw.lock: what upstream has beyond it ("npm:x 2.0 available")
    warning: str | None = None  # something the operator should know of a base that did build

    @property
    def failed(self) -> bool:
        return self.status.failed

    def line(self) -> str:
        warning = f" (warning: {self.warning})" if self.warning else ""
        return f"{self.runner.alias}: {self._says()}{warning}"

    def _says(self) -> str:
        before = self.previous
        if self.status is Status.NOT_ATTEMPTED:
            return f"{self.reason}; {self._kept()}"
        if self.status is Status.FAILED:
            doing = f"{self.doing} failed: " if self.doing else ""
            return f"{doing}{self.reason}; {self._kept()}"
        assert not isinstance(before, Unknown)  # only failures lack a previous state
        if self.status is Status.PINNED:
            return f"pinned at {self.version}"
        if self.status is Status.BUILT_LOCKED:
            return f"built {self.version} from claw.lock ({self.locked})"
        if self.status is Status.LOCKED:
            beyond = "; ".join(self.available)
            update = f"{beyond}; claw pull --update-lock={self.runner.driver}" if beyond else ""
            return f"locked at {self.version}" + (f" ({update})" if update else "")
        if self.status in (Status.ROLLED_BACK, Status.WOULD_ROLL_BACK) and before is not None:
            was = before.version or f"untagged, image {short_id(before.image_id)}"
            if self.status is Status.WOULD_ROLL_BACK:
                return f"would roll {self.direction} to {self.version} (now {was})"
            return f"rolled {self.direction} to {self.version} (was {was})"
        why = "".join(f"{text}; " for text in self.why)
        if self.status is Status.UP_TO_DATE and before is not None and not self.steady:
            return f"already at {before.version}"
        if self.status is Status.UP_TO_DATE and before is not None:
            return f"up to date {before.version} ({'; '.join(self.steady)})"
        if self.status is Status.REBUILT and before is not None:
            return (
                f"rebuilt {self.version} (same version; {why}image {short_id(self.image_id or '')}, "
                f"was {short_id(before.image_id)})"
            )
        if before is None:
            return f"installed {self.version}"
        was = before.version or f"an untagged {self.runner.latest}, image {short_id(before.image_id)}"
        return f"installed {self.version} (was {was}" + "".join(f"; {text}" for text in self.why) + ")"

    def _kept(self) -> str:
        before = self.previous
        if isinstance(before, Unknown):
            return f"{self.runner.alias} left as it was"
        if before is None:
            return f"{self.runner.alias} is not installed"
        if before.version is None:
            return f"kept {self.runner.latest} (image {short_id(before.image_id)})"
        return f"kept {self.runner.alias}:{before.version}"


@dataclass(frozen=True)
class Tags:
    """Every tag of an alias, read with one ``docker image ls``."""

    alias: str
    rows: tuple[Listed, ...]

    @classmethod
    def read(cls, engine: Engine, alias: str) -> Tags:
        return cls(alias, tuple(row for row in engine.list_images([alias]) if row.repository == alias))

    @property
    def temporary(self) -> tuple[Listed, ...]:
        return tuple(row for row in self.rows if row.tag.startswith(versions.TEMPORARY_PREFIX))

    @property
    def versioned(self) -> tuple[Listed, ...]:
        return tuple(row for row in self.rows if versions.is_versioned(row.tag))

    def id_of(self, tag: str) -> str | None:
        return next((row.id for row in self.rows if row.tag == tag), None)

    def installed(self) -> Installed | None:
        """What ``<alias>:latest`` is, with its version tag."""
        latest = self.id_of("latest")
        if latest is None:
            return None
        names = [row.ref for row in self.rows if row.id == latest]
        return Installed(latest, versions.resolve(self.alias, names))

    def by_age(self) -> list[Listed]:
        """The version tags, newest first (``runners.newest_first``)."""
        return runners.newest_first(self.rows)


@dataclass(frozen=True)
class Generation:
    """One version of a runner on the host (``pull --json``, ``pull --check``)."""

    tag: str
    image_id: str
    created: str
    latest: bool  # <alias>:latest names this image
    pinned: bool  # the config's pin names this tag
    used_by: tuple[str, ...]  # local service images built against it

    def to_json(self) -> dict[str, object]:
        return {
            "tag": self.tag, "image_id": self.image_id, "created": self.created, "latest": self.latest,
            "pinned": self.pinned, "used_by": list(self.used_by),
        }  # fmt: skip

    def line(self) -> str:
        marks = [m for m, on in (("latest", self.latest), ("pinned", self.pinned)) if on]
        if self.used_by:
            marks.append("used by " + ", ".join(self.used_by))
        extra = f" ({'; '.join(marks)})" if marks else ""
        return f"{self.tag}  image {short_id(self.image_id)}  created {self.created}{extra}"


def users(engine: Engine) -> dict[str, tuple[str, ...]]:
    """Base image ID -> the local service images built against it (two docker calls)."""
    found: dict[str, list[str]] = {}
    for image in engine.images_with_label(runners.RUNNER_IMAGE_ID):
        names = image.repo_tags or (f"an untagged image {short_id(image.id)}",)
        found.setdefault(image.labels[runners.RUNNER_IMAGE_ID], []).extend(names)
    return {base: tuple(sorted(names)) for base, names in found.items()}


def generations(engine: Engine, runner: Runner, used: dict[str, tuple[str, ...]]) -> list[Generation]:
    """The versions of ``runner`` on the host, newest first (one docker call)."""
    tags = Tags.read(engine, runner.alias)
    latest = tags.id_of("latest")
    return [
        Generation(
            row.tag, row.id, row.created, row.id == latest, row.tag == runner.pin, used.get(row.id, ())
        )
        for row in tags.by_age()
    ]


@dataclass(frozen=True)
class Checked:
    """A livecheck of one runner: what is installed, what it records, what is true now."""

    installed: Installed | None
    now: livecheck.Now
    verdict: livecheck.Verdict
    envs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # FROM image -> its Env, if known

    def runtime_conflicts(self, runner: Runner) -> list[str]:
        """What the answered releases need that the FROM images do not carry (SPEC §12.4);
        nothing when the runner's ``runtime_check`` is off or either side is unknown."""
        if not runner.runtime_check:
            return []
        needs = [
            need
            for answer in self.now.answers
            if isinstance(answer, Answer) and answer.runtime
            and (need := runtimes.Need.parse(answer.display(), answer.runtime)) is not None
        ]  # fmt: skip
        return runtimes.conflicts(needs, self.envs)


def ask(
    engine: Engine, runner: Runner, asker: Asker, options: Options, events: Events, *, download: bool
) -> Checked:
    """Ask every question of §9.3 about ``runner``. ``download``: learn each FROM digest
    by pulling it (what the refresh's build would fetch anyway; an unchanged image
    downloads nothing); else ask the registry without downloading (`pull --check`).
    Docker calls: one pull per FROM image, then one inspect of them all with the base."""
    alias, images = runner.alias, runner.images
    askable = [image for image in images if "$" not in image and "@" not in image]
    failed: dict[str, str] = {}
    if download:
        for image in askable:
            failed.update(_pull_from(engine, alias, image, options, events))
    inspected = engine.inspect_images([runner.current, *askable])  # --check: whatever is here
    latest = inspected.get(runner.current)  # a pinned runner is compared as pinned
    record = livecheck.Record.of(latest.labels) if latest else None
    found = []
    for index, image in enumerate(images):
        if "@" in image and "$" not in image:  # pinned by digest: never asked
            found.append(livecheck.Image(image, digest=image.rpartition("@")[2]))
        elif image in failed:
            found.append(livecheck.Image(image, error=failed[image]))
        elif download and image in askable:
            found.append(_pulled(image, inspected.get(image)))
        else:
            recorded = record.digest_of(index, image) if record else None
            found.append(_remote(engine, image, recorded, options, events, alias))
    if runner.upstream:
        events.progress(alias, "asking " + ", ".join(map(str, runner.upstream)))
    answers = tuple(answer(asker, upstream, options.cancel) for upstream in runner.upstream)
    before = stamp(datetime.datetime.now(datetime.timezone.utc))  # just after the last answer
    now = livecheck.Now(runner.recipe_sha, tuple(found), answers, downloaded=download, before=before)
    installed = Installed(latest.id, versions.resolve(alias, latest.repo_tags)) if latest else None
    inherited = () if download or latest is None else latest.env  # --check downloads nothing
    envs = {image: inspected[image].env if image in inspected else inherited for image in images}
    return Checked(installed, now, livecheck.compare(record, now, max_age=options.max_age), envs)


def _pull_from(engine: Engine, alias: str, image: str, options: Options, events: Events) -> dict[str, str]:
    try:
        options.check()
        engine.pull(
            image,
            attempts=options.retries,
            on_retry=retry_notice(events, alias),
            on_line=lambda line: events.output(alias, line),
        )
    except RegistryBlocked as exc:
        options.breaker.trip(exc)
        return {image: exc.reason}
    except (DockerError, NotAttempted) as exc:
        return {image: getattr(exc, "reason", None) or exc.message}
    return {}


def _pulled(image: str, found: Image | None) -> livecheck.Image:
    if found is None:
        return livecheck.Image(image, error="not on this host after pulling it")
    digest = digests.digest_from_repo_digests(image, found.repo_digests)
    if digest is None:
        return livecheck.Image(image, error="no single registry digest recorded for it")
    return livecheck.Image(image, digest=digest)


def _remote(
    engine: Engine, image: str, recorded: str | None, options: Options, events: Events, alias: str
) -> livecheck.Image:
    if "$" in image:
        return livecheck.Image(image, error="its name holds a build ARG; cannot ask")
    try:
        notice = retry_notice(events, alias)
        answer = engine.registry_digest(image, recorded=recorded, attempts=options.retries, on_retry=notice)
    except (DockerError, InputError) as exc:
        return livecheck.Image(image, error=getattr(exc, "reason", None) or exc.message)
    return livecheck.Image(image, answer.digest, unchanged=answer.moved is False, moved=answer.moved is True)


def answer(asker: Asker, upstream: Upstream, cancel: threading.Event) -> Answer | UpstreamError:
    """Ask in a thread of its own, so that Ctrl-C stops the wait at once (an HTTP GET
    in flight is simply abandoned: it changes nothing)."""
    box: list[Answer | UpstreamError | BaseException] = []

    def work() -> None:
        try:
            box.append(asker.ask(upstream))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.append(exc)

    worker = threading.Thread(target=work, daemon=True, name=f"claw-ask-{upstream.kind}")
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
        if cancel.is_set():
            raise Interrupted()
    answer = box[0]
    if isinstance(answer, (Answer, UpstreamError)):
        return answer
    raise answer


def tidy(engine: Engine, runner: Runner, options: Options, events: Events) -> None:
    """What a killed refresh of ``runner`` left (a temporary tag, a probe container) goes,
    also when nothing is to be refreshed. Costs no docker call when nothing was killed."""
    if not locks.abandoned(_lock_name(runner.alias), engine.where):
        return
    with locked(engine, runner.alias, options, events) as abandoned:
        if abandoned:
            _clean_leftovers(engine, runner.alias)


def _lock_name(alias: str) -> str:
    return f"runner-{alias}"


@contextlib.contextmanager
def locked(engine: Engine, alias: str, options: Options, events: Events) -> Iterator[bool]:
    """Refreshes and rollbacks of ``alias`` one at a time, for everyone who drives this
    engine (SPEC §3.1, §11): the host lock first, so waiters on one host wait without
    docker calls, then the engine's. Yields whether a holder died holding either (what
    it was doing may be half done)."""
    name = _lock_name(alias)

    def waiting_for(owner: lock.Owner) -> None:
        held = livecheck.duration(max(time.time() - owner.since, 0))
        remove = shlex.join(engine.docker("rm", "--force", lock.container_name(name)))
        events.progress(
            alias,
            f"waiting: {owner.describe()} is refreshing this runner on this engine ({held} so far; "
            f"if that host is gone for good: {remove})",
        )

    def took_over(owner: lock.Owner, why: str) -> None:
        events.warn(f"{alias}: took over the engine lock of {owner.describe()}: {why}")

    def waiting_here() -> None:
        _waiting(events, alias)

    with (
        locks.hold(name, engine.where, on_wait=waiting_here, cancel=options.cancel) as held,
        lock.hold(engine, name, on_wait=waiting_for, on_takeover=took_over, cancel=options.cancel) as stale,
    ):
        yield held.abandoned or stale


def _waiting(events: Events, alias: str) -> None:
    events.progress(alias, "waiting: another claw pull on this host is refreshing this runner")


def current(engine: Engine, runner: Runner) -> Installed | None:
    return Tags.read(engine, runner.alias).installed()


@dataclass(frozen=True)
class _Build:
    """What one refresh builds: the Dockerfile text (labels appended), its build arguments,
    whether the build pulls its FROM images, and, for a build from claw.lock, the entry."""

    text: str
    args: tuple[BuildArg, ...]
    pull: bool
    entry: lockfile.BaseEntry | None = None


def _fresh(runner: Runner, now: livecheck.Now | None) -> _Build:
    """A refresh from what livecheck has just learned (``now``): its answers as build
    arguments, its FROM digests recorded; built with ``--pull`` unless livecheck pulled
    every FROM image (then the build uses exactly what the labels record)."""
    labels = {**base_labels(runner), **(now.labels() if now else {})}
    text = clawfile.labelled(runner.recipe, labels, runner.recipe_path.name)
    args = tuple(now.build_args()) if now else ()
    return _Build(text, args, pull=now is None or not now.here)


def _from_lock(runner: Runner, entry: lockfile.BaseEntry) -> _Build:
    """A build of exactly ``entry`` (SPEC §12.3): every FROM and ``COPY --from`` image
    rewritten to its locked digest ref, the locked answers and time fence as the build
    arguments, the entry's input fields and hash as the base's labels."""
    locked_refs = list(entry.froms)
    images: dict[str, str] = {}
    for image in runner.images:
        ref = next((r for r in locked_refs if _same_image(r, image)), None)
        if ref is None:
            raise RefreshFailed(f"claw.lock records no digest for the recipe's image {image}")
        locked_refs.remove(ref)
        images[image] = ref
    labels = {**base_labels(runner), **entry.inputs(), runners.BASE_LOCK: entry.hash}
    if entry.froms:
        name, _, digest = entry.froms[-1].rpartition("@")
        labels.update({runners.OCI_BASE_NAME: name, runners.OCI_BASE_DIGEST: digest})
    text = clawfile.with_images(runner.recipe, runner.recipe_path.name, images)
    text = clawfile.labelled(text, labels, runner.recipe_path.name)
    return _Build(text, tuple(entry.answers()), pull=False, entry=entry)


def _same_image(locked_ref: str, image: str) -> bool:
    name = locked_ref.rpartition("@")[0]
    return digests.canonical_name(name) == digests.canonical_name(image.partition("@")[0])


def refresh(
    engine: Engine,
    runner: Runner,
    options: Options,
    events: Events,
    *,
    now: livecheck.Now | None = None,
    why: tuple[str, ...] = (),
    entry: lockfile.BaseEntry | None = None,
    seen: Installed | Unknown | None = UNKNOWN,
) -> Outcome:
    """Refresh one runner base, recording ``now`` (what livecheck learned) in its labels;
    ``why`` says what moved. With ``entry``, build exactly that claw.lock entry instead:
    tagged ``<alias>:lock-<hash>``, never ``latest``. ``seen``: the latest livecheck judged;
    when another refresh moved it while this one waited for the lock, the new base is
    judged again and not rebuilt when it is current. Failures become an Outcome; Ctrl-C
    raises Interrupted."""
    alias = runner.alias

    with (
        locked(engine, alias, options, events) as abandoned,
        OutputLog(f"refresh-{alias}") as log,
    ):
        previous: Installed | Unknown | None = UNKNOWN
        try:
            tags = _clean_leftovers(engine, alias, probes=abandoned)
            previous = tags.installed()
            options.check()
            if now is not None and not isinstance(seen, Unknown) and previous != seen and previous:
                steady = _current_after_all(engine, runner, now, options)
                if steady is not None:  # another claw built it while this one waited
                    return Outcome(runner, Status.UP_TO_DATE, previous, steady=steady)
            if entry is not None:
                build = _from_lock(runner, entry)
                _fetch_locked(engine, runner, entry, options, events)
            else:
                build = _fresh(runner, now)
            image_id, version = _install(engine, runner, build, tags, options, events, log)
        except NotAttempted as exc:
            return Outcome(runner, Status.NOT_ATTEMPTED, previous, reason=exc.message)
        except RegistryBlocked as exc:
            options.breaker.trip(exc)
            return _failed(runner, previous, f"build: {exc.reason}", log, exc.hint)
        except DockerError as exc:
            return _failed(runner, previous, exc.reason, log, exc.hint)
        except RefreshFailed as exc:
            return _failed(runner, previous, exc.message, log, exc.hint)
        log.discard()
        warning = _probe_differs(runner, version, build.args)
        if entry is not None:
            return Outcome(
                runner, Status.BUILT_LOCKED, previous, version, image_id, locked=entry.tag, warning=warning
            )
        removed = _prune(engine, runner, options.keep, image_id, version, tags, events)  # under the lock
    same = isinstance(previous, Installed) and previous.version == version
    status = Status.REBUILT if same else Status.INSTALLED
    return Outcome(runner, status, previous, version, image_id, removed=removed, why=why, warning=warning)


def _probe_differs(runner: Runner, version: str, args: tuple[BuildArg, ...]) -> str | None:
    """A probe that names another release than the runner's first upstream answered, when
    the recipe takes that answer: worth a warning, not a failure (SPEC §12.1). A recipe
    that ignores it is marked ``upstream-pinned=false`` instead (docs/decisions.md)."""
    first = runner.upstream[0] if runner.upstream else None
    if first is None or first.kind == "git" or first in runner.unpinned:
        return None
    answered = dict(args).get(first.arg)
    if answered is None or not versions.is_version_tag(version):
        return None
    if versions.same_release(version, answered, first.kind):
        return None
    return f"the probe says {version}, {first} answered {answered}"


def _current_after_all(
    engine: Engine, runner: Runner, now: livecheck.Now, options: Options
) -> tuple[str, ...] | None:
    """What held, when the base another refresh has just put in place is current by the
    same answers (one inspect); None when it is not."""
    image = engine.inspect_images([runner.latest]).get(runner.latest)
    if image is None or versions.resolve(runner.alias, image.repo_tags) is None:
        return None
    verdict = livecheck.compare(livecheck.Record.of(image.labels), now, max_age=options.max_age)
    return verdict.steady if verdict.current else None


def _fetch_locked(
    engine: Engine, runner: Runner, entry: lockfile.BaseEntry, options: Options, events: Events
) -> None:
    """Pull each locked FROM digest that is not here. One that cannot be fetched any more
    fails the runner, naming it: a locked input is never replaced by another."""
    here = engine.inspect_images(entry.froms)
    for ref in entry.froms:
        if ref in here:
            continue
        options.check()
        events.progress(runner.alias, f"pulling the locked {ref}")
        try:
            engine.pull(ref, attempts=options.retries, on_retry=retry_notice(events, runner.alias))
        except DockerError as exc:
            raise RefreshFailed(
                f"the locked {ref} cannot be fetched ({exc.reason})",
                hint=f"run: claw pull --update-lock={runner.driver} (locks what upstream has now)",
            ) from None
    if runner.runtime_check and entry.runtime:  # the lock's ranges against its FROM images (§12.4)
        pulled = [ref for ref in entry.froms if ref not in here]
        here = {**here, **(engine.inspect_images(pulled) if pulled else {})}
        who = "locked " + ", ".join(entry.upstreams)
        needs = [need for text in entry.runtime if (need := runtimes.Need.parse(who, text)) is not None]
        conflicts = runtimes.conflicts(needs, {digests.short_name(r): here[r].env for r in here})
        if conflicts:
            raise RefreshFailed("; ".join(conflicts) + f": change the recipe's FROM (or pin {runner.driver})")


def _failed(
    runner: Runner, previous: Installed | Unknown | None, reason: str, log: OutputLog, hint: str | None
) -> Outcome:
    return Outcome(
        runner, Status.FAILED, previous, reason=reason, hint=hint, log=log.path if log.kept else None
    )


def temporary_tag(alias: str) -> str:
    return f"{alias}:{versions.TEMPORARY_PREFIX}{os.getpid()}-{time.time_ns()}"


def base_labels(runner: Runner, when: datetime.datetime | None = None) -> dict[str, str]:
    """The runner base's own labels (``claw.base.*``: never the services' ``claw.runner.*``)."""
    labels = {
        runners.BASE_DRIVER: runner.driver,
        runners.BASE_RECIPE_SHA: runner.recipe_sha,
        runners.BASE_REFRESHED_AT: stamp(when or datetime.datetime.now(datetime.timezone.utc)),
    }
    if runner.unpinned:  # the recipe installs whatever upstream serves, not the answer
        labels[runners.BASE_UPSTREAM_PINNED] = "false"
    return labels


def stamp(moment: datetime.datetime) -> str:
    """RFC 3339 UTC to the second, as the labels and the lock write times."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean_leftovers(engine: Engine, alias: str, *, probes: bool = True) -> Tags:
    """Remove the probe containers and temporary tags of refreshes that were killed;
    return the alias's other tags. Called with the alias's lock held: no other
    refresh of it is running, so these tags stay true until this one changes them.
    ``probes``: look for probe containers, which only a killed holder of the lock
    leaves (an interrupted refresh removes its own); the tags come with the listing."""
    for name in engine.containers_labelled(f"{runners.PROBE}={alias}") if probes else ():
        engine.remove_container(name)
    tags = Tags.read(engine, alias)
    for row in tags.temporary:
        engine.remove_image(row.ref)
    return Tags(alias, tuple(row for row in tags.rows if row not in tags.temporary))


def _install(
    engine: Engine,
    runner: Runner,
    build: _Build,
    tags: Tags,
    options: Options,
    events: Events,
    log: OutputLog,
) -> tuple[str, str]:
    """Build, probe and tag; the new image's ID and version tag."""
    alias, temporary = runner.alias, temporary_tag(runner.alias)

    def sink(line: str) -> None:
        log.write(line)
        events.output(alias, line)

    try:
        flags = "--pull --no-cache" if build.pull else "--no-cache"
        source = f"claw.lock ({build.entry.tag})" if build.entry else runner.recipe_path.name
        events.progress(alias, f"building from {source} ({flags})")
        with _step("build"), tempfile.TemporaryDirectory(prefix="claw-context-") as context:
            image_id = engine.build(
                Path(context),
                tag=temporary,
                dockerfile_text=build.text,
                pull=build.pull,
                no_cache=True,
                build_args=build.args,
                on_line=sink,
                attempts=options.retries,
                on_retry=retry_notice(events, alias),
            )
        options.check()
        version = _version(engine, runner, image_id, events, log)
        options.check()
        if build.entry is not None:
            _publish_locked(engine, alias, image_id, version, build.entry, tags)
        else:
            _publish(engine, alias, image_id, version, held=tags.id_of(version))
        return image_id, version
    finally:
        with contextlib.suppress(DockerError, EngineUnreachable):  # cleanup: best effort
            engine.remove_image(temporary)


def _version(engine: Engine, runner: Runner, image_id: str, events: Events, log: OutputLog) -> str:
    """The version tag from the probe; a runner without a probe gets ``built-<date>-<id12>``."""
    if not runner.probe:
        return versions.fallback_tag(image_id)
    command = shlex.join(runner.probe)
    events.progress(runner.alias, f"probing the version: {command}")
    try:
        output = engine.run_probe(
            image_id, runner.probe, timeout=runner.probe_timeout, labels={runners.PROBE: runner.alias}
        )
    except DockerTimeout:
        raise RefreshFailed(f"probe `{command}` did not finish within {runner.probe_timeout:g}s") from None
    except DockerError as exc:
        log.write(exc.stdout + exc.stderr)
        raise RefreshFailed(f"probe `{command}` failed (exit {exc.returncode}): {exc.reason}") from None
    log.write(output)
    tag = versions.version_tag(output)
    if tag is None:  # a runner that cannot name its version is broken: latest stays
        first = next((line.strip() for line in output.splitlines() if line.strip()), "")
        raise RefreshFailed(f"probe `{command}` printed no version (first line: {first[:120]!r})")
    return tag


def _publish(engine: Engine, alias: str, image_id: str, version: str, *, held: str | None) -> None:
    """Tag the version, then latest; if latest fails, put the version tag back
    (``held``: the image the version tag named before, which a rebuild moves)."""
    version_ref = f"{alias}:{version}"
    with _step(f"tag {version_ref}"):
        engine.tag(image_id, version_ref)
    try:
        with _step(f"tag {alias}:latest"):
            engine.tag(image_id, f"{alias}:latest")
    except BaseException:  # Ctrl-C too: put the version tag back as it was
        with contextlib.suppress(DockerError, EngineUnreachable):  # cleanup: best effort
            if held is not None:
                engine.tag(held, version_ref)
            else:
                engine.remove_image(version_ref)
        raise


def _publish_locked(
    engine: Engine, alias: str, image_id: str, version: str, entry: lockfile.BaseEntry, tags: Tags
) -> None:
    """A base built from claw.lock gets ``<alias>:lock-<hash>``, and its version tag only when
    that tag is free or names a base with the same inputs; ``latest`` never moves."""
    with _step(f"tag {alias}:{entry.tag}"):
        engine.tag(image_id, f"{alias}:{entry.tag}")
    held = tags.id_of(version)
    if held is not None and held != image_id:
        found = engine.inspect_images([held]).get(held)
        if found is None or not entry.matches(found.labels):
            return  # the version tag names another build of that version: it stays
    with _step(f"tag {alias}:{version}"):
        engine.tag(image_id, f"{alias}:{version}")


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    """Docker failures of one step become the reason shown to the operator."""
    try:
        yield
    except RegistryBlocked:
        raise  # the run's circuit breaker needs it
    except DockerTimeout as exc:
        raise RefreshFailed(f"{name}: did not finish within {exc.seconds:g}s") from None
    except DockerError as exc:
        raise RefreshFailed(f"{name}: {exc.reason}", hint=exc.hint) from None


def _prune(
    engine: Engine, runner: Runner, keep: int, image_id: str, version: str, tags: Tags, events: Events
) -> tuple[str, ...]:
    """Remove versioned tags beyond the newest ``keep``, unless still in use.

    ``tags`` are the alias's tags before this refresh; the new version is the
    newest. The refresh has succeeded by now: trouble here is a warning."""
    older = [row for row in tags.by_age() if row.tag != version]
    surplus = [row for row in older[max(keep - 1, 0) :] if row.id != image_id and row.tag != runner.pin]
    if not surplus:
        return ()
    try:
        in_use = engine.container_image_ids()
        in_use.update(
            i.labels[runners.RUNNER_IMAGE_ID] for i in engine.images_with_label(runners.RUNNER_IMAGE_ID)
        )
    except (DockerError, EngineUnreachable) as exc:  # the refresh has succeeded: only a warning
        events.warn(f"{runner.alias}: old versions not pruned: {exc.reason}")
        return ()
    removed = []
    for listed in surplus:
        if listed.id in in_use:
            events.progress(runner.alias, f"keeping {listed.ref}: a service image or a container uses it")
            continue
        try:
            engine.remove_image(listed.ref)
        except (DockerError, EngineUnreachable) as exc:
            events.warn(f"{runner.alias}: could not remove {listed.ref}: {exc.reason}")
            continue
        events.progress(runner.alias, f"removed {listed.ref} (keeping the newest {keep} versions)")
        removed.append(listed.ref)
    return tuple(removed)


# --------------------------------------------------------------------------
# Going back (SPEC §10)
# --------------------------------------------------------------------------


def rollback(
    engine: Engine, runner: Runner, to: str | None, options: Options, events: Events, *, dry_run: bool = False
) -> Outcome:
    """Move ``<alias>:latest`` to the newest version older than the one it names now, or
    to the version tag ``to``: one ``docker tag`` under the alias's lock, nothing built,
    pulled or removed. The tag is atomic: an interruption leaves latest moved or not."""
    alias = runner.alias
    with contextlib.nullcontext() if dry_run else locked(engine, alias, options, events):
        tags = Tags.read(engine, alias)
        installed, rows = tags.installed(), tags.by_age()
        made = next((row.created for row in tags.rows if row.tag == "latest"), "")
        chosen = _going_to(alias, rows, installed, to, made)
        if isinstance(chosen, str):
            return Outcome(runner, Status.FAILED, installed, reason=chosen, doing="rollback")
        assert installed is not None
        if chosen.id == installed.image_id:
            return Outcome(runner, Status.UP_TO_DATE, Installed(installed.image_id, chosen.tag))
        direction = "back" if rows.index(chosen) > _position(rows, installed) else "forward"
        if dry_run:
            return Outcome(
                runner, Status.WOULD_ROLL_BACK, installed, chosen.tag, chosen.id, direction=direction
            )
        options.check()
        try:
            engine.tag(chosen.id, runner.latest)
        except DockerError as exc:
            return Outcome(
                runner, Status.FAILED, installed, reason=exc.reason, hint=exc.hint, doing="rollback"
            )
    return Outcome(runner, Status.ROLLED_BACK, installed, chosen.tag, chosen.id, direction=direction)


def _going_to(
    alias: str, rows: list[Listed], installed: Installed | None, to: str | None, made: str = ""
) -> Listed | str:
    """The version latest moves to among ``rows`` (the alias's versions, newest first),
    or why there is none."""
    here = f"versions here: {runners.listing(rows)}"
    if installed is None:
        return f"nothing installed: no {alias}:latest ({here})"
    if to is not None:
        found = next((row for row in rows if row.tag == to), None)
        return found or f"{alias}:{to} is not on this host ({here})"
    position = _position(rows, installed)
    if position >= 0:
        older = [row for row in rows[position + 1 :] if row.id != installed.image_id]
    else:  # latest carries no version tag: the versions created before its image (``made``)
        older = [row for row in rows if row.id != installed.image_id and row.created < made]
    if not older:
        return f"no version older than {installed.version or 'the untagged latest'} on this host ({here})"
    return older[0]


def _position(rows: list[Listed], installed: Installed) -> int:
    """Where latest's image is among ``rows`` (newest first); -1, above them all, when no
    version tag names it (a base built by hand)."""
    return next((index for index, row in enumerate(rows) if row.id == installed.image_id), -1)
