"""Refreshing one runner base: a transaction (SPEC §3.1).

Nothing an operator can see changes until the new image has been built,
inspected and has reported its version: only then is it tagged
``<alias>:<version>`` and ``<alias>:latest``. The temporary tag is always
removed; a failure at any step leaves the alias exactly as it was.
Refreshes of one alias are serialised on the host (``lib.locks``).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shlex
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lib import docker, locks, versions
from lib.classify import Breaker
from lib.errors import (
    ClawError,
    DockerError,
    DockerTimeout,
    EngineUnreachable,
    Interrupted,
    NotAttempted,
    RegistryBlocked,
)
from lib.events import Events, retry_notice
from lib.files import OutputLog
from lib.runners import Runner
from lib.versions import short_id

PROBE_LABEL = "claw.probe"  # on probe containers: the alias, so leftovers can be found
SERVICE_RUNNER_LABEL = "claw.runner.image-id"  # on service images (claw build)


class RefreshFailed(ClawError):
    """A step of the transaction failed; the message is the reason shown to the operator."""


@dataclass(frozen=True)
class Options:
    retries: int = 3
    keep: int = 3
    cancel: threading.Event = field(default_factory=threading.Event)
    breaker: Breaker = field(default_factory=Breaker)

    def check(self) -> None:
        if self.cancel.is_set():
            raise Interrupted()
        self.breaker.check()


@dataclass(frozen=True)
class Installed:
    """What ``<alias>:latest`` is."""

    image_id: str
    version: str | None  # its version tag; None when built by hand (needs a refresh)


FAILED = ("failed", "not-attempted")  # outcomes that make `claw pull` exit 1


class Unknown:
    """The alias could not be read (say, the engine went away)."""


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Outcome:
    runner: Runner
    status: str  # installed | rebuilt | failed | not-attempted
    previous: Installed | Unknown | None = None
    version: str | None = None
    image_id: str | None = None
    reason: str | None = None
    hint: str | None = None
    log: Path | None = None
    removed: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def line(self) -> str:
        return f"{self.runner.alias}: {self._says()}"

    def _says(self) -> str:
        before = self.previous
        if self.status == "not-attempted":
            return f"{self.reason}; {self._kept()}"
        if self.status == "failed":
            return f"refresh failed: {self.reason}; {self._kept()}"
        assert not isinstance(before, Unknown)  # only failures lack a previous state
        if self.status == "rebuilt" and before is not None:
            return (
                f"rebuilt {self.version} (same version; image {short_id(self.image_id or '')}, "
                f"was {short_id(before.image_id)})"
            )
        if before is None:
            return f"installed {self.version}"
        was = before.version or f"an untagged {self.runner.latest}, image {short_id(before.image_id)}"
        return f"installed {self.version} (was {was})"

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
    rows: tuple[docker.Listed, ...]

    @classmethod
    def read(cls, alias: str) -> Tags:
        return cls(alias, tuple(row for row in docker.list_images([alias]) if row.repository == alias))

    @property
    def temporary(self) -> tuple[docker.Listed, ...]:
        return tuple(row for row in self.rows if row.tag.startswith(versions.TEMPORARY_PREFIX))

    @property
    def versioned(self) -> tuple[docker.Listed, ...]:
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


def current(runner: Runner) -> Installed | None:
    return Tags.read(runner.alias).installed()


def refresh(runner: Runner, options: Options, events: Events) -> Outcome:
    """Refresh one runner base. Failures become an Outcome; Ctrl-C raises Interrupted."""
    alias = runner.alias

    def waiting() -> None:
        events.progress(alias, "waiting: another claw pull is refreshing this runner")

    with (
        locks.hold(f"runner-{alias}", on_wait=waiting, cancel=options.cancel),
        OutputLog(f"refresh-{alias}") as log,
    ):
        previous: Installed | Unknown | None = UNKNOWN
        try:
            tags = _clean_leftovers(alias)
            previous = tags.installed()
            options.check()
            image_id, version = _install(runner, tags, options, events, log)
        except EngineUnreachable:
            raise  # not this runner's failure: the whole run stops with one line
        except NotAttempted as exc:
            return Outcome(runner, "not-attempted", previous, reason=exc.message)
        except RegistryBlocked as exc:
            options.breaker.trip(exc)
            return _failed(runner, previous, f"build: {exc.reason}", log, exc.hint)
        except DockerError as exc:
            return _failed(runner, previous, exc.reason, log, exc.hint)
        except RefreshFailed as exc:
            return _failed(runner, previous, exc.message, log, exc.hint)
        log.discard()
        removed = _prune(runner, options.keep, image_id, version, tags, events)  # still under the lock
    status = "rebuilt" if isinstance(previous, Installed) and previous.version == version else "installed"
    return Outcome(runner, status, previous, version, image_id, removed=removed)


def _failed(
    runner: Runner, previous: Installed | Unknown | None, reason: str, log: OutputLog, hint: str | None
) -> Outcome:
    return Outcome(runner, "failed", previous, reason=reason, hint=hint, log=log.path if log.kept else None)


def temporary_tag(alias: str) -> str:
    return f"{alias}:{versions.TEMPORARY_PREFIX}{os.getpid()}-{time.time_ns()}"


def base_labels(runner: Runner, when: datetime.datetime | None = None) -> dict[str, str]:
    """The runner base's own labels (``claw.base.*``: never the services' ``claw.runner.*``)."""
    moment = (when or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return {
        "claw.base.driver": runner.driver,
        "claw.base.recipe-sha": runner.recipe_sha,
        "claw.base.refreshed-at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _clean_leftovers(alias: str) -> Tags:
    """Remove the probe containers and temporary tags of refreshes that were killed;
    return the alias's other tags. Called with the alias's lock held: no other
    refresh of it is running, so these tags stay true until this one changes them."""
    for name in docker.containers_labelled(f"{PROBE_LABEL}={alias}"):
        docker.remove_container(name)
    tags = Tags.read(alias)
    for row in tags.temporary:
        docker.remove_image(row.ref)
    return Tags(alias, tuple(row for row in tags.rows if row not in tags.temporary))


def _install(runner: Runner, tags: Tags, options: Options, events: Events, log: OutputLog) -> tuple[str, str]:
    alias, temporary = runner.alias, temporary_tag(runner.alias)

    def sink(line: str) -> None:
        log.write(line)
        events.output(alias, line)

    try:
        events.progress(alias, f"building from {runner.recipe_path.name} (--pull --no-cache)")
        with _step("build"), tempfile.TemporaryDirectory(prefix="claw-context-") as context:
            docker.build(
                Path(context),
                tag=temporary,
                dockerfile_text=runner.recipe,
                labels=base_labels(runner),
                pull=True,
                no_cache=True,
                on_line=sink,
                attempts=options.retries,
                on_retry=retry_notice(events, alias),
            )
        options.check()
        with _step("inspect"):
            built = docker.image(temporary)
        if built is None:
            raise RefreshFailed(f"inspect: {temporary} vanished right after the build")
        version = _version(runner, built.id, events, log)
        options.check()
        _publish(alias, built.id, version, held=tags.id_of(version))
        return built.id, version
    finally:
        with contextlib.suppress(DockerError):
            docker.remove_image(temporary)


def _version(runner: Runner, image_id: str, events: Events, log: OutputLog) -> str:
    """The version tag from the probe, or the fallback tag ``built-<date>-<id12>``."""
    if not runner.probe:
        return versions.fallback_tag(image_id)
    command = shlex.join(runner.probe)
    events.progress(runner.alias, f"probing the version: {command}")
    try:
        output = docker.run_probe(
            image_id, runner.probe, timeout=runner.probe_timeout, labels={PROBE_LABEL: runner.alias}
        )
    except DockerTimeout:
        raise RefreshFailed(f"probe `{command}` did not finish within {runner.probe_timeout:g}s") from None
    except DockerError as exc:
        log.write(exc.stdout + exc.stderr)
        raise RefreshFailed(f"probe `{command}` failed (exit {exc.returncode}): {exc.reason}") from None
    log.write(output)
    tag = versions.version_tag(output)
    if tag is None:
        tag = versions.fallback_tag(image_id)
        events.warn(f"{runner.alias}: probe `{command}` printed no version; tagged {tag}")
    return tag


def _publish(alias: str, image_id: str, version: str, *, held: str | None) -> None:
    """Tag the version, then latest; if latest fails, put the version tag back
    (``held``: the image the version tag named before, which a rebuild moves)."""
    version_ref = f"{alias}:{version}"
    with _step(f"tag {version_ref}"):
        docker.tag(image_id, version_ref)
    try:
        with _step(f"tag {alias}:latest"):
            docker.tag(image_id, f"{alias}:latest")
    except BaseException:  # Ctrl-C too: put the version tag back as it was
        with contextlib.suppress(DockerError):
            if held is not None:
                docker.tag(held, version_ref)
            else:
                docker.remove_image(version_ref)
        raise


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    """Docker failures of one step become the reason shown to the operator."""
    try:
        yield
    except (RegistryBlocked, EngineUnreachable):
        raise  # the run's circuit breaker needs the first; the second ends the run
    except DockerTimeout as exc:
        raise RefreshFailed(f"{name}: did not finish within {exc.seconds:g}s") from None
    except DockerError as exc:
        raise RefreshFailed(f"{name}: {exc.reason}", hint=exc.hint) from None


def _prune(
    runner: Runner, keep: int, image_id: str, version: str, tags: Tags, events: Events
) -> tuple[str, ...]:
    """Remove versioned tags beyond the newest ``keep``, unless still in use.

    ``tags`` are the alias's tags before this refresh; the new version is the
    newest. The refresh has succeeded by now: trouble here is a warning."""
    older = sorted(
        (row for row in tags.versioned if row.tag != version),
        key=lambda row: (row.created, versions.sort_key(row.tag)),
        reverse=True,
    )
    surplus = [row for row in older[max(keep - 1, 0) :] if row.id != image_id]
    if not surplus:
        return ()
    try:
        in_use = docker.container_image_ids()
        in_use.update(i.labels[SERVICE_RUNNER_LABEL] for i in docker.images_with_label(SERVICE_RUNNER_LABEL))
    except DockerError as exc:
        events.warn(f"{runner.alias}: old versions not pruned: {exc.reason}")
        return ()
    removed = []
    for listed in surplus:
        if listed.id in in_use:
            events.progress(runner.alias, f"keeping {listed.ref}: a service image or a container uses it")
            continue
        try:
            docker.remove_image(listed.ref)
        except DockerError as exc:
            events.warn(f"{runner.alias}: could not remove {listed.ref}: {exc.reason}")
            continue
        events.progress(runner.alias, f"removed {listed.ref} (keeping the newest {keep} versions)")
        removed.append(listed.ref)
    return tuple(removed)
