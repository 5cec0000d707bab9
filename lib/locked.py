"""Runner bases under claw.lock (SPEC §12.3): following an entry, and locking a base.

Following: a base that matches its entry (the ``lock-<hash>`` tag, else ``latest`` built
with the same inputs) is used as it is; otherwise the entry is built exactly
(``transaction.refresh(entry=...)``), and ``latest`` never moves. Locking: the entry of a base
is read from its labels, with what the answers said of integrity and runtime; the base
gets the entry's tag, and the tag of the entry it replaces goes unless something uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from . import asking, bases, livecheck, lockfile, refs, runners, transaction, versions
from .engine.docker import Engine, Image
from .errors import DockerError, EngineUnreachable, InputError, UpstreamError
from .events import Events
from .policy import Options
from .runners import Runner
from .status import Status
from .upstreams import Answer, parse_record

if TYPE_CHECKING:
    from .asker import Asker


def problems(runner: Runner, lock: lockfile.Lock) -> list[str]:
    """Why ``--locked`` cannot build ``runner`` exactly as locked: one line per problem,
    naming the runner, the field, both values and the command that fixes it."""
    entry = lock.bases.get(runner.driver)
    update = f"claw pull --update-lock={runner.driver}"
    if entry is None:
        return [f"{runner.driver}: not in {lock.path} (run: {update})"]
    found = []
    if entry.recipe_sha != runner.recipe_sha:
        found.append(
            f"{runner.driver}: recipe-sha: {lock.path} has {entry.recipe_sha}, the recipe is "
            f"{runner.recipe_sha} (run: {update})"
        )
    for upstream in runner.unpinned:
        found.append(
            f"{runner.driver}: upstream: the recipe does not take {upstream}'s locked version "
            f"(no ARG {upstream.arg}): it would install whatever upstream serves (declare the ARG "
            f"and install that version; see docs/runner-bases.md)"
        )
    return found


def follow(
    engine: Engine,
    runner: Runner,
    entry: lockfile.BaseEntry,
    options: Options,
    events: Events,
    asker: Asker | None = None,
) -> bases.Outcome:
    """The base ``entry`` locks, here: found (one inspect), else built from the entry.
    ``asker``: first ask what upstream has past the lock, for the line (a plain pull;
    ``--locked`` never asks)."""
    outside = beyond(engine, asker, runner, entry, options) if asker is not None else ()
    base, tagged = here(engine, runner, entry)
    if base is None or not entry.matches(base.labels):
        return transaction.refresh(engine, runner, options, events, entry=entry)
    if not tagged:  # built by a plain pull from the same inputs: it is the locked base
        engine.tag(base.id, f"{runner.alias}:{entry.tag}")
    return held(runner, entry, base, outside)


def here(engine: Engine, runner: Runner, entry: lockfile.BaseEntry) -> tuple[Image | None, bool]:
    """The base that stands for ``entry`` on this engine (one inspect): its lock tag, else
    ``latest``; and whether it was found by its lock tag. Whether it matches is the caller's."""
    lock_ref = f"{runner.alias}:{entry.tag}"
    found = engine.inspect_images([lock_ref, runner.latest])
    return found.get(lock_ref) or found.get(runner.latest), lock_ref in found


def held(runner: Runner, entry: lockfile.BaseEntry, base: Image, beyond: Sequence[str] = ()) -> bases.Outcome:
    """The outcome of a locked base found here, as locked."""
    version = versions.tag_of(runner.alias, base.repo_tags) or entry.version or entry.tag
    installed = bases.Installed(base.id, version)
    return bases.Outcome(
        runner, Status.LOCKED, installed, version, base.id, locked=entry.tag, available=tuple(beyond)
    )


def beyond(
    engine: Engine, asker: Asker, runner: Runner, entry: lockfile.BaseEntry, options: Options
) -> list[str]:
    """What upstream has now that the lock does not: each upstream's newer answer
    (``npm:openclaw 2026.9.8``) and each FROM image the registry moved (``node:24-slim
    moved``), asked without downloading. Information only: a question that fails says nothing."""
    locked = {answer.upstream: answer.value for answer in map(parse_record, entry.upstreams) if answer}
    found = []
    for upstream in runner.upstream:
        now = asking.answer(asker, upstream, options.cancel)
        if isinstance(now, Answer) and locked.get(upstream) != now.value:
            found.append(f"{now.display()} available")
    for ref in entry.froms:
        name, _, digest = ref.rpartition("@")
        options.check()
        try:
            answer = engine.registry_digest(name, recorded=digest, attempts=options.retries)
        except (DockerError, InputError):
            continue
        if answer.moved:
            found.append(f"{refs.short_name(name)} moved")
    return found


def pending_entry(runner: Runner, now: livecheck.Now) -> lockfile.BaseEntry:
    """The entry a rebuild from ``now`` would lock, as far as it is known before building:
    the version and the time fence are pending."""
    labels = {**now.labels(), runners.BASE_RECIPE_SHA: runner.recipe_sha}
    entry = _entry(runner, labels, now.answers, version=lockfile.PENDING)
    return replace(entry, before=lockfile.PENDING)


def entry_of(
    engine: Engine, runner: Runner, image_id: str, answers: Iterable[Answer | UpstreamError]
) -> lockfile.BaseEntry:
    """The entry that locks the base ``image_id`` (one inspect)."""
    image = engine.inspect_images([image_id])[image_id]
    return _entry(runner, image.labels, answers, version=versions.tag_of(runner.alias, image.repo_tags))


def lock_base(
    engine: Engine,
    runner: Runner,
    image_id: str,
    answers: Iterable[Answer | UpstreamError],
    replaced: lockfile.BaseEntry | None,
    events: Events,
) -> lockfile.BaseEntry:
    """Lock the base ``image_id``: its entry, whose lock tag it gets; the lock tag of the
    entry it ``replaced`` goes, unless something uses that base."""
    entry = entry_of(engine, runner, image_id, answers)
    engine.tag(image_id, f"{runner.alias}:{entry.tag}")
    if replaced is not None:
        _untag_replaced(engine, runner, replaced, entry, events)
    return entry


def _entry(
    runner: Runner, labels: Mapping[str, str], answers: Iterable[Answer | UpstreamError], version: str | None
) -> lockfile.BaseEntry:
    """The entry of a base with ``labels``, with what the answers it records said of their
    integrity and runtime."""
    given = [answer for answer in answers if isinstance(answer, Answer)]
    recorded = {r for r in map(parse_record, lockfile.of_labels(runner.driver, labels).upstreams) if r}
    integrity = tuple(
        f"{answer.upstream} {answer.integrity}" for answer in given if answer.integrity and answer in recorded
    )
    runtime = tuple(answer.runtime for answer in given if answer.runtime and answer in recorded)
    return lockfile.of_labels(runner.driver, labels, integrity=integrity, runtime=runtime, version=version)


def _untag_replaced(
    engine: Engine, runner: Runner, old: lockfile.BaseEntry, new: lockfile.BaseEntry, events: Events
) -> None:
    """The lock tag of the entry ``new`` replaces goes, unless a local service image or a
    container uses its base (then it stays, and says so)."""
    if old.tag == new.tag:
        return
    ref = f"{runner.alias}:{old.tag}"
    try:
        image = engine.inspect_images([ref]).get(ref)
        if image is None:
            return
        in_use = bases.in_use(engine)
        if image.id in in_use:
            events.progress(runner.alias, f"keeping {ref}: a service image or a container uses it")
            return
        engine.remove_image(ref)
    except (DockerError, EngineUnreachable) as exc:
        events.warn(f"{runner.alias}: could not remove {ref}: {exc.reason}")
