"""What a pull would change, said without changing anything (SPEC §4): ``--dry-run``
(the plan, from what is here) and ``--check`` (asked of upstream and the registries,
downloading nothing). With a lock, ``--check`` compares the host with it."""

from __future__ import annotations

from . import asking, bases, locked, lockfile, refs, runners
from .actions import Action, Kind, Result, World, pinned, present, unknown
from .engine.docker import Image
from .errors import DockerError
from .runners import Runner
from .status import Status


def would(world: World, action: Action, here: dict[str, Image]) -> Result:
    """``--dry-run``: what a pull would do, from what is here."""
    if action.kind is Kind.INFRA and action.ref in here:
        return present(action)
    if action.runner is None:
        return Result(action, Status.WOULD_PULL, f"{action.name}: would pull {action.ref}")
    runner = action.runner
    if runner.pin:
        return pinned(action, runner, here[runner.current])
    now = bases.current(world.engine, runner)
    state = "not installed" if now is None else f"now {now.version or 'untagged'}"
    line = (
        f"{runner.alias}: would ask upstream, then refresh if something moved "
        f"({runner.recipe_path.name} {runner.recipe_sha[:19]}; {state})"
    )
    return Result(action, Status.WOULD_REFRESH, line)


def check(world: World, action: Action, here: dict[str, Image]) -> Result:
    """``--check``: whether a pull would change ``action``, asked without downloading."""
    runner = action.runner
    entry = world.lock.bases.get(runner.driver) if world.lock and runner else None
    if runner is not None and entry is not None:
        return _against_lock(world, action, runner, entry)
    if runner is not None:
        status, state, reason = _runner_state(world, runner)
        if runner.pin:  # what upstream has beyond the pin; pull would not change it
            failed = Status.UNKNOWN if status.failed else Status.PINNED
            return pinned(action, runner, here[runner.current], state, failed)
        return Result(action, status, f"{runner.alias}: {state}", reason)
    found = here.get(action.ref)
    if found is None:
        return Result(action, Status.MISSING, f"{action.name}: missing {action.ref}")
    if action.kind is Kind.INFRA or "@" in action.ref:
        return present(action)
    return _registry(world, action, found)


def _against_lock(world: World, action: Action, runner: Runner, entry: lockfile.BaseEntry) -> Result:
    """With a lock, --check compares the host with it (behind: the locked base is not here
    as locked) and says what upstream has beyond the lock, which alone is not behind."""
    outside = locked.beyond(world.engine, world.asker, runner, entry, world.options)
    base, _ = locked.here(world.engine, runner, entry)
    inputs = lockfile.of_labels(runner.driver, base.labels).inputs() if base is not None else {}
    if base is not None and runners.BASE_LOCK in base.labels:
        inputs[runners.BASE_LOCK] = base.labels[runners.BASE_LOCK]
    if base is not None and entry.matches(base.labels):
        outcome = locked.held(runner, entry, base, outside)
        return Result(action, outcome.status, outcome.line(), outcome=outcome, inputs=inputs)
    if base is None:
        why = f"not built here ({runner.alias}:{entry.tag})"
    else:
        why = "; ".join(
            f"{name}: locked {want}, here {have}" for name, want, have in entry.differences(base.labels)
        )
    lock_name = str(world.lock.path) if world.lock else lockfile.NAME
    return Result(action, Status.BEHIND, f"{runner.alias}: behind {lock_name}: {why}", inputs=inputs)


def _runner_state(world: World, runner: Runner) -> tuple[Status, str, str | None]:
    """What livecheck says of the runner's current base (the pin, else latest):
    the status, the words of the line, the reason of a failed question."""
    checked = asking.ask(world.engine, runner, world.asker, world.options, world.events, download=False)
    installed, verdict = checked.installed, checked.verdict
    conflicts = checked.runtime_conflicts(runner)  # said as a warning on the line (SPEC §12.4)
    warning = f" (warning: {'; '.join(conflicts)}: a refresh would fail before building)" if conflicts else ""
    if installed is None:
        return Status.NOT_INSTALLED, f"not installed{warning}", None
    if verdict.unanswered:
        reason = "; ".join(verdict.unanswered)
        return Status.UNKNOWN, f"cannot tell: {reason}{warning}", reason
    if checked.up_to_date:
        return Status.UP_TO_DATE, f"up to date {installed.version}{warning}", None
    moved = verdict.moved if installed.version is not None else ("no version tag (built by hand?)",)
    return Status.BEHIND, f"behind: {'; '.join(moved)}{warning}", None


def _registry(world: World, action: Action, found: Image) -> Result:
    """A registry image that is here: has the registry's digest for its tag moved?"""
    local = refs.digest_from_repo_digests(action.ref, found.repo_digests)
    try:
        answer = world.engine.registry_digest(action.ref, recorded=local, attempts=world.options.retries)
    except DockerError as exc:
        return unknown(action, exc.reason)
    if answer.moved:
        return Result(action, Status.BEHIND, f"{action.name}: behind: the registry's {action.ref} moved")
    if answer.moved is None:
        return unknown(action, "no registry digest recorded for the local image")
    return present(action, " (registry unchanged)")
