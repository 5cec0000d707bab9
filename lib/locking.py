"""Writing claw.lock, and refusing to build past it (SPEC §12.3): ``--update-lock`` asks
upstream, refreshes what moved and locks each runner base and registry image of the
target (``--dry-run``: what it would lock, asked as ``--check`` asks); ``--locked``
first proves that the lock covers the target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from . import asking, bases, locked, lockfile, refreshing, refs, target
from .actions import Action, Kind, Result, World, pull, unknown
from .errors import ClawError, DockerError, InputError
from .status import Status

Entries = Sequence[lockfile.BaseEntry | lockfile.ImageEntry]


def require(world: World, actions: Sequence[Action]) -> None:
    """``--locked``: every runner and registry image of the target is in the lock, as the
    target has it now; else exit 1 before anything is built, one line per problem."""
    lock = world.lock
    if lock is None:
        raise ClawError(
            f"--locked: no lock file at {world.lock_path}",
            hint="run: claw pull --update-lock (on the host that decides), then commit claw.lock",
        )
    found = [line for a in actions if a.runner is not None for line in locked.problems(a.runner, lock)]
    if isinstance(world.target, target.PodTarget):
        found += [
            f"image.{service.name}: not in {lock.path} (run: claw pull --update-lock=image.{service.name})"
            for service in world.target.pod.pulled
            if service.name not in lock.images
        ]
    if found:
        raise ClawError("--locked: the lock does not cover this target:\n  " + "\n  ".join(found))


def chosen(actions: Sequence[Action], names: tuple[str, ...]) -> list[Action]:
    """The actions ``--update-lock=NAME`` names (all runner and registry-image actions when
    none is named); an unknown NAME is bad input."""
    lockable = [a for a in actions if a.kind is not Kind.INFRA]
    if not names:
        return lockable
    by_name: dict[str, Action] = {}
    for action in lockable:
        if action.runner is not None:
            by_name.update({action.runner.driver: action, action.runner.alias: action})
        else:
            by_name.update({f"image.{service}": action for service in action.name.split(",")})
    unknown_names = [name for name in names if name not in by_name]
    if unknown_names:
        raise InputError(
            f"--update-lock: {', '.join(map(repr, unknown_names))} is not a runner or registry image of "
            f"this target (known: {', '.join(sorted(by_name)) or 'none'}; a word after --update-lock is "
            "read as its NAME: write --update-lock=NAME, or the target before it)"
        )
    return list(dict.fromkeys(by_name[name] for name in names))


def lock(
    world: World, action: Action, old: lockfile.Lock, *, rebuild: bool, dry_run: bool
) -> tuple[Result, Entries]:
    """The result of locking ``action`` and the entries it gives the lock (none when it
    failed: its old entry stays). ``dry_run``: what it would lock, building and
    downloading nothing."""
    if dry_run:
        return _would_lock(world, action, old)
    if action.runner is not None:
        return _lock_runner(world, action, old, rebuild=rebuild)
    return _lock_image(world, action)


def _would_lock(world: World, action: Action, old: lockfile.Lock) -> tuple[Result, Entries]:
    """What --update-lock would write for ``action``, asked as --check asks (nothing built,
    nothing downloaded); what only a build can tell (the version, the time fence) is pending."""
    runner = action.runner
    if runner is None:
        ref = action.ref.partition("@")[0]
        try:
            answer = world.engine.registry_digest(ref, attempts=world.options.retries)
        except DockerError as exc:
            return unknown(action, exc.reason), []
        if answer.digest is None:
            return unknown(action, "the registry named no digest"), []
        pinned = f"{ref}@{answer.digest}"
        line = f"{action.name}: would lock {pinned}"
        return Result(action, Status.WOULD_PULL, line), _image_entries(action, pinned)
    runner = replace(runner, locked=None)
    checked = asking.ask(world.engine, runner, world.asker, world.options, world.events, download=False)
    if checked.verdict.unanswered:
        reason = refreshing.not_locked(checked)
        return Result(action, Status.UNKNOWN, f"{runner.alias}: {reason}", reason), []
    installed = checked.installed
    if installed is not None and checked.up_to_date:
        entry = locked.entry_of(world.engine, runner, installed.image_id, checked.now.answers)
        kept = old.bases.get(runner.driver) == entry
        says = "keeps its entry" if kept else "would lock"
        line = f"{runner.alias}: {says} {installed.version} (nothing moved)"
        return Result(action, Status.UP_TO_DATE, line), [entry]
    entry = locked.pending_entry(runner, checked.now)
    line = (
        f"{runner.alias}: would rebuild and lock ({'; '.join(checked.verdict.why)}; the version is pending)"
    )
    return Result(action, Status.WOULD_REFRESH, line), [entry]


def _lock_runner(
    world: World, action: Action, old: lockfile.Lock, *, rebuild: bool
) -> tuple[Result, Entries]:
    """Refresh what moved (a question that fails: not locked), then lock the base."""
    assert action.runner is not None
    runner = replace(action.runner, locked=None)  # locking asks afresh, against latest
    outcome, checked = refreshing.refresh(world, runner, rebuild=rebuild, strict=True)
    result = Result.of(action, outcome)
    before = outcome.previous
    image_id = outcome.image_id or (before.image_id if isinstance(before, bases.Installed) else None)
    if outcome.failed or image_id is None:
        return result, []
    replaced = old.bases.get(runner.driver)
    entry = locked.lock_base(world.engine, runner, image_id, checked.now.answers, replaced, world.events)
    return replace(result, line=f"{result.line} (locked {entry.tag})"), [entry]


def _lock_image(world: World, action: Action) -> tuple[Result, Entries]:
    """Pull a registry image and lock each of its services to the digest the pull recorded."""
    ref = action.ref.partition("@")[0]  # as the pod names it: what the registry serves now
    result = pull(world, replace(action, ref=ref))
    if result.failed:
        return result, []
    image = world.engine.inspect_images([ref]).get(ref)
    digest = refs.digest_from_repo_digests(ref, image.repo_digests) if image else None
    if digest is None:
        reason = f"no registry digest recorded for {ref}: not locked"
        return Result(action, Status.FAILED, f"{action.name}: {reason}", reason), []
    pinned = f"{ref}@{digest}"
    return replace(result, line=f"{result.line} (locked {pinned})"), _image_entries(action, pinned)


def _image_entries(action: Action, pinned: str) -> list[lockfile.ImageEntry]:
    """An entry for each service of a registry image's action (its name lists them)."""
    return [lockfile.ImageEntry(service, pinned) for service in action.name.split(",")]
