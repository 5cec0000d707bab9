"""`claw pull` (SPEC §4): pinned infra, registry images, runner refreshes.

``plan`` reads the target and decides what to do; ``execute`` does it, with
registry work and runner refreshes in parallel up to ``jobs``, and returns a
``Report``. A failure does not stop the other actions; a rate limit or an auth
error stops the remaining registry work (the run's circuit breaker). What an
action would change (``--dry-run``, ``--check``) is ``checking.py``; writing and
following claw.lock, ``locking.py`` and ``locked.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import bases, checking, locked, lockfile, locking, refreshing, runners, target, versions
from ..actions import Action, Kind, Result, pinned, present, pull, runner_action
from ..engine.docker import Image
from ..errors import ClawError, InputError, NotReady
from ..invocation import Invocation, in_parallel
from ..runners import Runner


@dataclass(frozen=True)
class Report:
    target: target.Target
    dry_run: bool
    results: tuple[Result, ...] = field(default=())
    check: bool = False
    lock_diff: str | None = None  # --update-lock --dry-run: the change to claw.lock, as a diff

    @property
    def failed(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.failed)

    @property
    def behind(self) -> tuple[Result, ...]:
        """``--check``: what a pull would change."""
        return tuple(r for r in self.results if r.status.behind)

    @property
    def hints(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.hint for r in self.failed if r.hint))

    def verdict(self) -> ClawError | None:
        """How the run ends: None when all is well. ``--check`` names what would change
        (exit 3, with the pull that does it) and, beside it, the questions that could not be
        answered (then exit 1)."""
        count = len(self.results)
        if not self.check:
            failed = len(self.failed)
            return ClawError(f"{failed} of {count} pull actions did not succeed") if failed else None
        said = []
        if self.behind:
            said.append(f"{len(self.behind)} of {count} would change ({_names(self.behind)})")
        if self.failed:
            said.append(
                f"{len(self.failed)} of {count} questions could not be answered ({_names(self.failed)})"
            )
        hint = f"run: {self.target.command('pull')}" if self.behind else None
        if self.failed:
            return ClawError("; ".join(said), hint=hint)
        return NotReady(said[0], hint=hint) if said else None

    def to_json(self) -> dict[str, Any]:
        where = self.target
        return {
            "command": "pull",
            "mode": _mode(where),
            "target": None if isinstance(where, target.BareTarget) else str(where.path),
            "dry_run": self.dry_run,
            "check": self.check,
            "ok": not self.failed,
            "actions": [r.to_json() for r in self.results],
            **({"lock_diff": self.lock_diff} if self.lock_diff is not None else {}),
        }


def _names(results: Sequence[Result]) -> str:
    return ", ".join(result.action.name for result in results)


def _mode(where: target.Target) -> str:
    if isinstance(where, target.PodTarget):
        return "pod"
    return "clawfile" if isinstance(where, target.ClawfileTarget) else "bare"


@dataclass(frozen=True)
class Mode:
    dry_run: bool = False  # print the plan, change nothing
    check: bool = False  # ask what would change, change nothing, download nothing
    rebuild: bool = False  # refresh runner bases whatever livecheck says
    locked: bool = False  # build exactly claw.lock: never ask upstream, never write the lock
    update_lock: tuple[str, ...] | None = None  # write claw.lock: () every entry, else these names


def run(
    inv: Invocation,
    *,
    no_runners: bool = False,
    mode: Mode = Mode(),
    only: Collection[str] | None = None,
    with_versions: bool = False,
) -> Report:
    """The whole verb: plan from the target, then do (or show, or check) the work.

    ``only`` keeps the actions whose ref is in it (``claw up --fix``: what is missing);
    ``with_versions`` adds each runner's versions on the host to its result."""
    actions = plan(inv, no_runners=no_runners, locked=mode.locked)
    if only is not None:
        actions = tuple(a for a in actions if a.ref in only)
    if mode.locked:
        locking.require(inv, actions)
    if mode.update_lock is not None:
        report = _update_lock(inv, actions, mode.update_lock, rebuild=mode.rebuild, dry_run=mode.dry_run)
    else:
        report = execute(inv, actions, mode=mode)
    return _with_versions(inv, report) if with_versions else report


def _with_versions(inv: Invocation, report: Report) -> Report:
    """Each runner's versions, as the host has them after the run (SPEC §10)."""
    if not any(r.action.runner for r in report.results):
        return report
    used = bases.users(inv.engine)
    results = tuple(
        r
        if r.action.runner is None
        else replace(r, versions=tuple(bases.generations(inv.engine, r.action.runner, used)))
        for r in report.results
    )
    return replace(report, results=results)


def rollback(inv: Invocation, spec: str, *, dry_run: bool = False) -> Report:
    """``--rollback RUNNER[:TAG]``: RUNNER is a driver or an alias (SPEC §10)."""
    name, _, tag = spec.partition(":")
    runner = inv.table.get(name) or runners.aliases(inv.table.values()).get(name)
    if runner is None:
        known = sorted({*inv.table, *(r.alias for r in inv.table.values())})
        raise InputError(f"--rollback: no runner {name!r} (known: {', '.join(known)})")
    if spec.endswith(":") or tag == "latest" or (tag and not versions.is_versioned(tag)):
        raise InputError(f"--rollback {spec}: TAG must be a version tag of the runner, such as v2026.5.22")
    if runner.pin and not dry_run:
        inv.events.warn(f"{runner.alias}: pinned at {runner.pin} in the config: builds keep using the pin")
    outcome = bases.rollback(inv.engine, runner, tag or None, inv.options, inv.events, dry_run=dry_run)
    return Report(inv.target, dry_run, (Result.of(runner_action(runner), outcome),))


# --------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------


def plan(inv: Invocation, *, no_runners: bool, locked: bool = False) -> tuple[Action, ...]:
    where = inv.target
    if isinstance(where, target.PodTarget):
        return _pod_actions(where, inv.pins, inv.table, no_runners, inv.lock)
    if isinstance(where, target.ClawfileTarget):
        runner = runners.runner_of(where.clawfile, inv.table)  # None: hermes, no runner base
        return () if no_runners or runner is None else (runner_action(runner),)
    actions = [Action(Kind.INFRA, name, ref) for name, ref in inv.pins.items()]
    if not no_runners:  # --locked: every runner the lock names; else those installed here
        named = [inv.table[d] for d in inv.lock.bases if d in inv.table] if locked and inv.lock else None
        actions += [runner_action(r) for r in named or _installed(inv, inv.table.values())]
    return tuple(actions)


def _pod_actions(
    where: target.PodTarget,
    pins: Mapping[str, str],
    table: dict[str, Runner],
    no_runners: bool,
    lock: lockfile.Lock | None,
) -> tuple[Action, ...]:
    the_pod = where.pod
    actions = [Action(Kind.INFRA, name, pins[name]) for name in the_pod.infra()]
    by_ref: dict[str, list[str]] = {}
    for service in the_pod.pulled:  # a locked service's image: the digest the lock names
        entry = lock.images.get(service.name) if lock else None
        by_ref.setdefault(entry.ref if entry else service.ref, []).append(service.name)
    actions += [Action(Kind.IMAGE, ",".join(names), ref) for ref, names in by_ref.items()]
    if not no_runners:
        used: dict[str, Runner] = {}
        for job in where.jobs:
            runner = runners.used_by(job.clawfile, table) if job.clawfile else None
            if runner is not None:
                used.setdefault(runner.alias, runner)
        actions += [runner_action(r) for r in used.values()]
    return tuple(actions)


def _installed(inv: Invocation, candidates: Iterable[Runner]) -> list[Runner]:
    """The runners whose alias exists locally (bare mode refreshes exactly these)."""
    by_alias = runners.aliases(candidates)
    present = {
        listed.repository
        for listed in inv.engine.list_images(list(by_alias))
        if not listed.tag.startswith(versions.TEMPORARY_PREFIX)
    }
    return [runner for alias, runner in by_alias.items() if alias in present]


# --------------------------------------------------------------------------
# Doing it
# --------------------------------------------------------------------------


def execute(inv: Invocation, actions: Sequence[Action], *, mode: Mode = Mode()) -> Report:
    kinds = (Kind.INFRA, Kind.IMAGE) if mode.check else (Kind.INFRA,)
    pinned_runners = [a.runner for a in actions if a.runner is not None and a.runner.pin]
    here = inv.engine.inspect_images(
        [*(a.ref for a in actions if a.kind in kinds), *(r.current for r in pinned_runners)]
    )
    runners.require_pins(inv.engine, pinned_runners, here)  # before any change
    if mode.dry_run:
        return Report(inv.target, True, tuple(checking.would(inv, a, here) for a in actions))

    def do(action: Action) -> Result:
        if mode.check:
            return checking.check(inv, action, here)
        return _do(inv, action, here, mode)

    results = tuple(in_parallel(do, actions, inv.jobs, stop=inv.stop, name="claw-pull"))
    return Report(inv.target, False, results, check=mode.check)


def _do(inv: Invocation, action: Action, here: dict[str, Image], mode: Mode) -> Result:
    runner = action.runner
    if runner is None:
        return present(action) if action.kind is Kind.INFRA and action.ref in here else pull(inv, action)
    if runner.pin:
        return pinned(action, runner, here[runner.current])
    entry = inv.lock.bases.get(runner.driver) if inv.lock else None
    if entry is not None:  # a plain pull also says what upstream has beyond the lock
        asker = None if mode.locked else inv.asker
        return Result.of(action, locked.follow(inv.engine, runner, entry, inv.options, inv.events, asker))
    if inv.lock is not None:
        inv.events.warn(
            f"{runner.alias}: not in {inv.lock.path}: refreshed as without a lock "
            f"(claw pull --update-lock={runner.driver} locks it)"
        )
    outcome, _ = refreshing.refresh(inv, runner, rebuild=mode.rebuild)
    return Result.of(action, outcome)


# --------------------------------------------------------------------------
# claw.lock: --update-lock (SPEC §12.3)
# --------------------------------------------------------------------------


def _update_lock(
    inv: Invocation,
    actions: Sequence[Action],
    names: tuple[str, ...],
    *,
    rebuild: bool,
    dry_run: bool = False,
) -> Report:
    """Ask upstream, refresh what moved, and write the lock: every entry of the target, or
    only ``names`` (a driver, an alias, or ``image.<service>``). Entries this run does not
    touch stay as they are; a runner that fails keeps its old entry. ``dry_run``: ask
    without building or downloading, and say the change as a diff of the lock."""
    chosen = locking.chosen(actions, names)
    old = inv.lock or lockfile.Lock(inv.lock_path)

    def do(action: Action) -> tuple[Result, locking.Entries]:
        return locking.lock(inv, action, old, rebuild=rebuild, dry_run=dry_run)

    done = in_parallel(do, chosen, inv.jobs, stop=inv.stop, name="claw-lock")
    entries = [entry for _, made in done for entry in made]
    new = old.with_bases(e for e in entries if isinstance(e, lockfile.BaseEntry))
    new = new.with_images(e for e in entries if isinstance(e, lockfile.ImageEntry))
    results = tuple(result for result, _ in done)
    if dry_run:
        return Report(inv.target, True, results, lock_diff=lockfile.diff(old, new))
    if new != old or not old.path.is_file():
        lockfile.write(new)
    return Report(inv.target, False, results)
