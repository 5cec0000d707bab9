"""`claw pull` (SPEC §4): pinned infra, registry images, runner refreshes.

``plan`` reads the target and decides what to do; ``execute`` does it, with
registry work and runner refreshes in parallel up to ``jobs``, and returns a
``Report``. A failure does not stop the other actions; a rate limit or an auth
error stops the remaining registry work (the run's circuit breaker).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import asking, bases, locked, lockfile, refs, runners, target, transaction, versions
from ..engine.docker import Image
from ..errors import ClawError, DockerError, InputError, NotAttempted, NotReady
from ..invocation import Invocation, in_parallel
from ..runners import Runner
from ..status import Status
from ..upstreams import UpstreamError


class Kind(str, enum.Enum):
    INFRA = "infra"
    IMAGE = "image"
    RUNNER = "runner"


@dataclass(frozen=True)
class Action:
    kind: Kind
    name: str  # the component, the services using the image, or the runner alias
    ref: str  # the image ref (for a runner: <alias>:latest)
    runner: Runner | None = None


@dataclass(frozen=True)
class Result:
    action: Action
    status: Status
    line: str
    reason: str | None = None
    hint: str | None = None
    outcome: bases.Outcome | None = None
    versions: tuple[bases.Generation, ...] | None = None  # a runner's versions on the host, if asked
    inputs: Mapping[str, str] | None = None  # --check with a lock: the input labels of the base here

    @property
    def failed(self) -> bool:
        return self.status.failed

    def lines(self) -> list[str]:
        """The line, then a runner's versions on the host when they were asked for."""
        return [self.line, *(f"  {generation.line()}" for generation in self.versions or ())]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.action.kind.value,
            "name": self.action.name,
            "ref": self.action.ref,
            "status": self.status.value,
            "line": self.line,
            "reason": self.reason,
        }
        if self.outcome is not None:
            before = self.outcome.previous
            data.update(
                version=self.outcome.version,
                image_id=self.outcome.image_id,
                previous_version=before.version if isinstance(before, bases.Installed) else None,
                previous_image_id=before.image_id if isinstance(before, bases.Installed) else None,
                removed=list(self.outcome.removed),
                log=str(self.outcome.log) if self.outcome.log else None,
            )
        if self.versions is not None:
            data["versions"] = [generation.to_json() for generation in self.versions]
        if self.inputs is not None:  # side by side across engines (SPEC §12.3)
            data["inputs"] = dict(self.inputs)
        return data


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
        _require_lock(inv, actions)
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
    action = _runner_action(runner)
    result = Result(action, outcome.status, outcome.line(), outcome.reason, outcome.hint, outcome)
    return Report(inv.target, dry_run, (result,))


# --------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------


def plan(inv: Invocation, *, no_runners: bool, locked: bool = False) -> tuple[Action, ...]:
    where = inv.target
    if isinstance(where, target.PodTarget):
        return _pod_actions(where, inv.pins, inv.table, no_runners, inv.lock)
    if isinstance(where, target.ClawfileTarget):
        runner = runners.runner_of(where.clawfile, inv.table)  # None: hermes, no runner base
        return () if no_runners or runner is None else (_runner_action(runner),)
    actions = [Action(Kind.INFRA, name, ref) for name, ref in inv.pins.items()]
    if not no_runners:  # --locked: every runner the lock names; else those installed here
        named = [inv.table[d] for d in inv.lock.bases if d in inv.table] if locked and inv.lock else None
        actions += [_runner_action(r) for r in named or _installed(inv, inv.table.values())]
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
        actions += [_runner_action(r) for r in used.values()]
    return tuple(actions)


def _runner_action(runner: Runner) -> Action:
    return Action(Kind.RUNNER, runner.alias, runner.latest, runner)


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
    pinned = [a.runner for a in actions if a.runner is not None and a.runner.pin]
    present = inv.engine.inspect_images(
        [*(a.ref for a in actions if a.kind in kinds), *(r.current for r in pinned)]
    )
    runners.require_pins(inv.engine, pinned, present)  # before any change
    if mode.dry_run:
        return Report(inv.target, True, tuple(_would(inv, a, present) for a in actions))

    def do(action: Action) -> Result:
        if mode.check:
            return _check(inv, action, present)
        return _do(inv, action, present, rebuild=mode.rebuild, locked=mode.locked)

    results = tuple(in_parallel(do, actions, inv.jobs, stop=inv.stop, name="claw-pull"))
    return Report(inv.target, False, results, check=mode.check)


def _do(
    inv: Invocation, action: Action, present: dict[str, Image], *, rebuild: bool, locked: bool = False
) -> Result:
    if action.kind is Kind.INFRA and action.ref in present:
        return Result(action, Status.PRESENT, f"{action.name}: present {action.ref}")
    if action.runner is not None and action.runner.pin:
        return _pinned(action, action.runner, present[action.runner.current])
    entry = inv.lock.bases.get(action.runner.driver) if inv.lock and action.runner else None
    if action.runner is not None and entry is not None:
        outcome = _follow(inv, action.runner, entry, ask=not locked)
        return Result(action, outcome.status, outcome.line(), outcome.reason, outcome.hint, outcome)
    if action.runner is not None:
        if inv.lock is not None:
            inv.events.warn(
                f"{action.runner.alias}: not in {inv.lock.path}: refreshed as without a lock "
                f"(claw pull --update-lock={action.runner.driver} locks it)"
            )
        outcome, _ = _refresh(inv, action.runner, rebuild=rebuild)
        return Result(action, outcome.status, outcome.line(), outcome.reason, outcome.hint, outcome)
    return _pull(inv, action)


def _follow(inv: Invocation, runner: Runner, entry: lockfile.BaseEntry, *, ask: bool) -> bases.Outcome:
    """A locked runner: its locked base, found or built; ``ask``: also say what upstream has
    beyond the lock (a plain pull; --locked never asks)."""
    outside = locked.beyond(inv.engine, inv.asker, runner, entry, inv.options) if ask else ()
    return locked.follow(inv.engine, runner, entry, inv.options, inv.events, outside)


def _pinned(
    action: Action, runner: Runner, image: Image, upstream: str = "", status: Status = Status.PINNED
) -> Result:
    """A pinned runner is never refreshed; ``upstream`` is what --check learned of it."""
    pin = runner.pin or ""
    outcome = bases.Outcome(runner, Status.PINNED, bases.Installed(image.id, pin), pin, image.id)
    line = outcome.line() + (f" (upstream: {upstream})" if upstream else "")
    return Result(action, status, line, outcome=outcome)


def _refresh(
    inv: Invocation, runner: Runner, *, rebuild: bool, strict: bool = False
) -> tuple[bases.Outcome, asking.Checked]:
    """Livecheck first: a current base is left as it is; otherwise the transaction,
    recording what was learned. ``rebuild`` refreshes whatever the answers; ``strict``
    (locking): a question that cannot be answered fails the runner before any build."""
    checked = asking.ask(inv.engine, runner, inv.asker, inv.options, inv.events, download=True)
    installed, verdict = checked.installed, checked.verdict
    for answer in checked.now.answers:
        if isinstance(answer, UpstreamError) and not answer.transient:
            inv.events.warn(f"{answer.reason}; check upstream in [runners.{runner.driver}] of the config")
    if strict and verdict.unanswered:
        reason = "not locked: a question could not be answered: " + "; ".join(verdict.unanswered)
        return bases.Outcome(runner, Status.FAILED, installed, reason=reason), checked
    if verdict.current and not rebuild and installed is not None and installed.version is not None:
        transaction.tidy(inv.engine, runner, inv.options, inv.events)
        return bases.Outcome(runner, Status.UP_TO_DATE, installed, steady=verdict.steady), checked
    conflicts = checked.runtime_conflicts(runner)
    if conflicts:  # the build would install a release its base's runtime cannot run (SPEC §12.4)
        return _runtime_failed(runner, installed, conflicts), checked
    why = ("--rebuild",) if rebuild else verdict.why
    inv.engine.prefetch_buildkit()  # asked while the lock and leftovers are seen to
    seen: bases.Installed | bases.Unknown | None = bases.UNKNOWN if rebuild else installed
    outcome = transaction.refresh(
        inv.engine, runner, inv.options, inv.events, now=checked.now, why=why, seen=seen
    )
    return outcome, checked


def _runtime_failed(runner: Runner, installed: bases.Installed | None, conflicts: list[str]) -> bases.Outcome:
    fix = f"change the recipe's FROM (or pin {runner.driver})"
    reason = "; ".join(conflicts) + f": {fix}"
    return bases.Outcome(runner, Status.FAILED, installed, reason=reason, doing="")


def _pull(inv: Invocation, action: Action) -> Result:
    try:
        inv.options.pull(inv.engine, action.ref, inv.events, action.name, saying=f"pulling {action.ref}")
    except NotAttempted as exc:
        return Result(action, Status.NOT_ATTEMPTED, f"{action.name}: {exc.message}", exc.message)
    except DockerError as exc:
        line = f"{action.name}: pull failed: {exc.reason}"
        return Result(action, Status.FAILED, line, exc.reason, exc.hint)
    return Result(action, Status.PULLED, f"{action.name}: pulled {action.ref}")


def _would(inv: Invocation, action: Action, present: dict[str, Image]) -> Result:
    if action.kind is Kind.INFRA and action.ref in present:
        return Result(action, Status.PRESENT, f"{action.name}: present {action.ref}")
    if action.runner is None:
        return Result(action, Status.WOULD_PULL, f"{action.name}: would pull {action.ref}")
    runner = action.runner
    if runner.pin:
        return _pinned(action, runner, present[runner.current])
    now = bases.current(inv.engine, runner)
    state = "not installed" if now is None else f"now {now.version or 'untagged'}"
    line = (
        f"{runner.alias}: would ask upstream, then refresh if something moved "
        f"({runner.recipe_path.name} {runner.recipe_sha[:19]}; {state})"
    )
    return Result(action, Status.WOULD_REFRESH, line)


# --------------------------------------------------------------------------
# --check: ask, change nothing, download nothing
# --------------------------------------------------------------------------


def _check(inv: Invocation, action: Action, present: dict[str, Image]) -> Result:
    runner = action.runner
    entry = inv.lock.bases.get(runner.driver) if inv.lock and runner else None
    if runner is not None and entry is not None:
        return _check_locked(inv, action, runner, entry)
    if runner is not None:
        status, state, reason = _runner_state(inv, runner)
        if runner.pin:  # what upstream has beyond the pin; pull would not change it
            failed = Status.UNKNOWN if status.failed else Status.PINNED
            return _pinned(action, runner, present[runner.current], state, failed)
        return Result(action, status, f"{runner.alias}: {state}", reason)
    found = present.get(action.ref)
    if found is None:
        return Result(action, Status.MISSING, f"{action.name}: missing {action.ref}")
    if action.kind is Kind.INFRA or "@" in action.ref:
        return Result(action, Status.PRESENT, f"{action.name}: present {action.ref}")
    return _check_registry(inv, action, found)


def _check_locked(inv: Invocation, action: Action, runner: Runner, entry: lockfile.BaseEntry) -> Result:
    """With a lock, --check compares the host with it (behind: the locked base is not here
    as locked) and says what upstream has beyond the lock, which alone is not behind."""
    outside = locked.beyond(inv.engine, inv.asker, runner, entry, inv.options)
    base, _ = locked.here(inv.engine, runner, entry)
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
    return Result(action, Status.BEHIND, f"{runner.alias}: behind {_lock_name(inv)}: {why}", inputs=inputs)


def _lock_name(inv: Invocation) -> str:
    return str(inv.lock.path) if inv.lock else lockfile.NAME


def _runner_state(inv: Invocation, runner: Runner) -> tuple[Status, str, str | None]:
    """What livecheck says of the runner's current base (the pin, else latest):
    the status, the words of the line, the reason of a failed question."""
    checked = asking.ask(inv.engine, runner, inv.asker, inv.options, inv.events, download=False)
    installed, verdict = checked.installed, checked.verdict
    conflicts = checked.runtime_conflicts(runner)  # said as a warning on the line (SPEC §12.4)
    warning = f" (warning: {'; '.join(conflicts)}: a refresh would fail before building)" if conflicts else ""
    if installed is None:
        return Status.NOT_INSTALLED, f"not installed{warning}", None
    if verdict.unanswered:
        reason = "; ".join(verdict.unanswered)
        return Status.UNKNOWN, f"cannot tell: {reason}{warning}", reason
    if verdict.current and installed.version is not None:
        return Status.UP_TO_DATE, f"up to date {installed.version}{warning}", None
    moved = verdict.moved if installed.version is not None else ("no version tag (built by hand?)",)
    return Status.BEHIND, f"behind: {'; '.join(moved)}{warning}", None


def _check_registry(inv: Invocation, action: Action, found: Image) -> Result:
    """A registry image that is here: has the registry's digest for its tag moved?"""
    local = refs.digest_from_repo_digests(action.ref, found.repo_digests)
    try:
        answer = inv.engine.registry_digest(action.ref, recorded=local, attempts=inv.options.retries)
    except DockerError as exc:
        return Result(action, Status.UNKNOWN, f"{action.name}: cannot tell: {exc.reason}", exc.reason)
    if answer.moved:
        return Result(action, Status.BEHIND, f"{action.name}: behind: the registry's {action.ref} moved")
    if answer.moved is None:
        reason = "no registry digest recorded for the local image"
        return Result(action, Status.UNKNOWN, f"{action.name}: cannot tell: {reason}", reason)
    return Result(action, Status.PRESENT, f"{action.name}: present {action.ref} (registry unchanged)")


# --------------------------------------------------------------------------
# claw.lock: --locked and --update-lock (SPEC §12.3)
# --------------------------------------------------------------------------


def _require_lock(inv: Invocation, actions: Sequence[Action]) -> None:
    """``--locked``: every runner and registry image of the target is in the lock, as the
    target has it now; else exit 1 before anything is built, one line per problem."""
    lock = inv.lock
    if lock is None:
        raise ClawError(
            f"--locked: no lock file at {inv.lock_path}",
            hint="run: claw pull --update-lock (on the host that decides), then commit claw.lock",
        )
    found = [line for a in actions if a.runner is not None for line in locked.problems(a.runner, lock)]
    if isinstance(inv.target, target.PodTarget):
        found += [
            f"image.{service.name}: not in {lock.path} (run: claw pull --update-lock=image.{service.name})"
            for service in inv.target.pod.pulled
            if service.name not in lock.images
        ]
    if found:
        raise ClawError("--locked: the lock does not cover this target:\n  " + "\n  ".join(found))


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
    chosen = _chosen(inv, actions, names)
    old = inv.lock or lockfile.Lock(inv.lock_path)

    def do(action: Action) -> tuple[Result, Sequence[lockfile.BaseEntry | lockfile.ImageEntry]]:
        if dry_run:
            return _would_lock(inv, action, old)
        if action.runner is not None:
            return _lock_runner(inv, action, old, rebuild=rebuild)
        return _lock_image(inv, action)

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


def _would_lock(
    inv: Invocation, action: Action, old: lockfile.Lock
) -> tuple[Result, list[lockfile.BaseEntry | lockfile.ImageEntry]]:
    """What --update-lock would write for ``action``, asked as --check asks (nothing built,
    nothing downloaded); what only a build can tell (the version, the time fence) is pending."""
    runner = action.runner
    if runner is None:
        ref = action.ref.partition("@")[0]
        try:
            answer = inv.engine.registry_digest(ref, attempts=inv.options.retries)
        except DockerError as exc:
            return Result(action, Status.UNKNOWN, f"{action.name}: cannot tell: {exc.reason}", exc.reason), []
        if answer.digest is None:
            reason = "the registry named no digest"
            return Result(action, Status.UNKNOWN, f"{action.name}: cannot tell: {reason}", reason), []
        pinned = f"{ref}@{answer.digest}"
        services = action.name.split(",")
        line = f"{action.name}: would lock {pinned}"
        return Result(action, Status.WOULD_PULL, line), [lockfile.ImageEntry(s, pinned) for s in services]
    runner = replace(runner, locked=None)
    checked = asking.ask(inv.engine, runner, inv.asker, inv.options, inv.events, download=False)
    if checked.verdict.unanswered:
        reason = "not locked: a question could not be answered: " + "; ".join(checked.verdict.unanswered)
        return Result(action, Status.UNKNOWN, f"{runner.alias}: {reason}", reason), []
    installed = checked.installed
    if checked.verdict.current and installed is not None and installed.version is not None:
        entry = locked.entry_of(inv.engine, runner, installed.image_id, checked.now.answers, tag=False)
        kept = old.bases.get(runner.driver) == entry
        says = "keeps its entry" if kept else "would lock"
        line = f"{runner.alias}: {says} {installed.version} (nothing moved)"
        return Result(action, Status.UP_TO_DATE, line), [entry]
    entry = locked.pending_entry(runner, checked.now)
    line = (
        f"{runner.alias}: would rebuild and lock ({'; '.join(checked.verdict.why)}; the version is pending)"
    )
    return Result(action, Status.WOULD_REFRESH, line), [entry]


def _chosen(inv: Invocation, actions: Sequence[Action], names: tuple[str, ...]) -> list[Action]:
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
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise InputError(
            f"--update-lock: {', '.join(map(repr, unknown))} is not a runner or registry image of this "
            f"target (known: {', '.join(sorted(by_name)) or 'none'}; a word after --update-lock is "
            "read as its NAME: write --update-lock=NAME, or the target before it)"
        )
    return list(dict.fromkeys(by_name[name] for name in names))


def _lock_runner(
    inv: Invocation, action: Action, old: lockfile.Lock, *, rebuild: bool
) -> tuple[Result, list[lockfile.BaseEntry]]:
    """Refresh what moved (a question that fails: not locked), then lock the base."""
    assert action.runner is not None
    runner = replace(action.runner, locked=None)  # locking asks afresh, against latest
    outcome, checked = _refresh(inv, runner, rebuild=rebuild, strict=True)
    result = Result(action, outcome.status, outcome.line(), outcome.reason, outcome.hint, outcome)
    before = outcome.previous
    image_id = outcome.image_id or (before.image_id if isinstance(before, bases.Installed) else None)
    if outcome.failed or image_id is None:
        return result, []
    entry = locked.entry_of(inv.engine, runner, image_id, checked.now.answers)
    replaced = old.bases.get(runner.driver)
    if replaced is not None:
        locked.untag_replaced(inv.engine, runner, replaced, entry, inv.events)
    return replace(result, line=f"{result.line} (locked {entry.tag})"), [entry]


def _lock_image(inv: Invocation, action: Action) -> tuple[Result, list[lockfile.ImageEntry]]:
    """Pull a registry image and lock each of its services to the digest the pull recorded."""
    ref = action.ref.partition("@")[0]  # as the pod names it: what the registry serves now
    result = _pull(inv, replace(action, ref=ref))
    if result.failed:
        return result, []
    image = inv.engine.inspect_images([ref]).get(ref)
    digest = refs.digest_from_repo_digests(ref, image.repo_digests) if image else None
    if digest is None:
        reason = f"no registry digest recorded for {ref}: not locked"
        return Result(action, Status.FAILED, f"{action.name}: {reason}", reason), []
    pinned = f"{ref}@{digest}"
    entries = [lockfile.ImageEntry(service, pinned) for service in action.name.split(",")]
    return replace(result, line=f"{result.line} (locked {pinned})"), entries
