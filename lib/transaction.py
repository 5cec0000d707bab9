"""The refresh transaction of a runner base (SPEC §3.1), and pruning.

Nothing an operator can see changes until the new image has been built and has
reported its version: only then is it tagged ``<alias>:<version>`` and
``<alias>:latest`` (a build from claw.lock: ``<alias>:lock-<hash>``, never latest,
SPEC §12.3). The temporary tag is always removed; a failure at any step leaves the
alias exactly as it was. Refreshes of one alias are serialised (``bases.locked``).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shlex
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import dockerfile, livecheck, lockfile, locks, refs, runners, runtimes, versions
from .bases import UNKNOWN, Installed, Outcome, Tags, Unknown, in_use, lock_name, locked
from .engine.argv import BuildArg
from .engine.docker import Engine
from .errors import (
    DockerError,
    DockerTimeout,
    EngineUnreachable,
    NotAttempted,
    RefreshFailed,
    RegistryBlocked,
)
from .events import Events, retry_notice
from .files import OutputLog
from .policy import Options
from .runners import Runner
from .status import Status


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
    text = dockerfile.labelled(runner.recipe, labels, runner.recipe_path.name)
    args = tuple(now.build_args()) if now else ()
    return _Build(text, args, pull=now is None or not now.here)


def _from_lock(runner: Runner, entry: lockfile.BaseEntry) -> _Build:
    """A build of exactly ``entry`` (SPEC §12.3): every FROM and ``COPY --from`` image
    rewritten to its locked digest ref, the locked answers and time fence as the build
    arguments, the entry's input fields and hash as the base's labels."""
    locked_refs = list(entry.froms)
    images: dict[str, str] = {}
    for image in runner.images:
        ref = next((r for r in locked_refs if refs.same_repository(r, image)), None)
        if ref is None:
            raise RefreshFailed(f"claw.lock records no digest for the recipe's image {image}")
        locked_refs.remove(ref)
        images[image] = ref
    labels = {**base_labels(runner), **entry.inputs(), runners.BASE_LOCK: entry.hash}
    if entry.froms:
        name, _, digest = entry.froms[-1].rpartition("@")
        labels.update({runners.OCI_BASE_NAME: name, runners.OCI_BASE_DIGEST: digest})
    text = dockerfile.with_images(runner.recipe, runner.recipe_path.name, images)
    text = dockerfile.labelled(text, labels, runner.recipe_path.name)
    return _Build(text, tuple(entry.answers()), pull=False, entry=entry)


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
            with options.registry():
                image_id, version = _install(engine, runner, build, tags, options, events, log)
        except NotAttempted as exc:
            return Outcome(runner, Status.NOT_ATTEMPTED, previous, reason=exc.message)
        except RegistryBlocked as exc:
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
    if image is None or versions.tag_of(runner.alias, image.repo_tags) is None:
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
        try:
            options.pull(engine, ref, events, runner.alias, saying=f"pulling the locked {ref}")
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
        conflicts = runtimes.conflicts(needs, {refs.short_name(r): here[r].env for r in here})
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
        runners.BASE_REFRESHED_AT: livecheck.stamp(when or datetime.datetime.now(datetime.timezone.utc)),
    }
    if runner.unpinned:  # the recipe installs whatever upstream serves, not the answer
        labels[runners.BASE_UPSTREAM_PINNED] = "false"
    return labels


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
        used = in_use(engine)
    except (DockerError, EngineUnreachable) as exc:  # the refresh has succeeded: only a warning
        events.warn(f"{runner.alias}: old versions not pruned: {exc.reason}")
        return ()
    removed = []
    for listed in surplus:
        if listed.id in used:
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


def tidy(engine: Engine, runner: Runner, options: Options, events: Events) -> None:
    """What a killed refresh of ``runner`` left (a temporary tag, a probe container) goes,
    also when nothing is to be refreshed. Costs no docker call when nothing was killed."""
    if not locks.abandoned(lock_name(runner.alias), engine.where):
        return
    with locked(engine, runner.alias, options, events) as abandoned:
        if abandoned:
            _clean_leftovers(engine, runner.alias)
