"""`claw pull` (SPEC §4): pinned infra, registry images, runner refreshes.

``plan`` reads the target and decides what to do; ``execute`` does it, with
registry work and runner refreshes in parallel up to ``jobs``, and returns a
``Report``. A failure does not stop the other actions; a rate limit or an auth
error stops the remaining registry work (the run's circuit breaker).
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib import build, clawfile, docker, infra, pod, refresh, runners, target, versions
from lib.config import Config
from lib.errors import DockerError, EngineUnreachable, NotAttempted, RegistryBlocked
from lib.events import Events, retry_notice
from lib.files import read_input
from lib.runners import Runner

INFRA, IMAGE, RUNNER = "infra", "image", "runner"


@dataclass(frozen=True)
class Action:
    kind: str  # infra | image | runner
    name: str  # the component, the services using the image, or the runner alias
    ref: str  # the image ref (for a runner: <alias>:latest)
    runner: Runner | None = None


@dataclass(frozen=True)
class Plan:
    target: target.Target
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Result:
    action: Action
    status: str  # present | pulled | installed | rebuilt | failed | not-attempted | would-*
    line: str
    reason: str | None = None
    hint: str | None = None
    outcome: refresh.Outcome | None = None

    @property
    def failed(self) -> bool:
        return self.status in refresh.FAILED

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.action.kind,
            "name": self.action.name,
            "ref": self.action.ref,
            "status": self.status,
            "line": self.line,
            "reason": self.reason,
        }
        if self.outcome is not None:
            before = self.outcome.previous
            data.update(
                version=self.outcome.version,
                image_id=self.outcome.image_id,
                previous_version=before.version if isinstance(before, refresh.Installed) else None,
                previous_image_id=before.image_id if isinstance(before, refresh.Installed) else None,
                removed=list(self.outcome.removed),
                log=str(self.outcome.log) if self.outcome.log else None,
            )
        return data


@dataclass(frozen=True)
class Report:
    target: target.Target
    dry_run: bool
    results: tuple[Result, ...] = field(default=())

    @property
    def failed(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.failed)

    @property
    def hints(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.hint for r in self.failed if r.hint))

    def to_json(self) -> dict[str, Any]:
        return {
            "command": "pull",
            "mode": self.target.mode,
            "target": str(self.target.path) if self.target.path else None,
            "dry_run": self.dry_run,
            "ok": not self.failed,
            "actions": [r.to_json() for r in self.results],
        }


def run(
    where: target.Target,
    config: Config,
    events: Events,
    *,
    no_runners: bool = False,
    jobs: int | None = None,
    dry_run: bool = False,
) -> Report:
    """The whole verb: read the target, then do (or show) the work.

    An engine that cannot be reached ends the run with one line, wherever it
    shows: every other action would fail the same way."""
    the_plan = plan(where, config, no_runners=no_runners, detail=events.detail)
    if not dry_run and any(action.runner for action in the_plan.actions):
        docker.prefetch_buildkit()  # one round trip fewer before the first build
    options = refresh.Options(retries=config.pull.retries, keep=config.pull.keep)
    return execute(the_plan, jobs=jobs or config.pull.jobs, options=options, events=events, dry_run=dry_run)


# --------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------


def plan(
    where: target.Target, config: Config, *, no_runners: bool, detail: Callable[[str], None] | None = None
) -> Plan:
    table = runners.table(config)
    pins = infra.pinned(config.infra)
    if where.mode == target.POD:
        assert where.path is not None
        return Plan(where, _pod_actions(pod.load(where.path, detail), pins, table, no_runners))
    if where.mode == target.CLAWFILE:
        assert where.path is not None
        cf = clawfile.parse(read_input(where.path, "Clawfile"), str(where.path))
        runner = runners.for_driver(cf.claw_type, table, str(where.path))
        return Plan(where, () if no_runners else (_runner_action(runner),))
    actions = [Action(INFRA, name, ref) for name, ref in pins.items()]
    if not no_runners:
        actions += [_runner_action(r) for r in _installed(table.values())]
    return Plan(where, tuple(actions))


def _pod_actions(
    the_pod: pod.Pod, pins: dict[str, str], table: dict[str, Runner], no_runners: bool
) -> tuple[Action, ...]:
    actions = [Action(INFRA, name, pins[name]) for name in the_pod.infra()]
    by_ref: dict[str, list[str]] = {}
    for service in the_pod.pulled:
        by_ref.setdefault(service.ref, []).append(service.name)
    actions += [Action(IMAGE, ",".join(names), ref) for ref, names in by_ref.items()]
    if not no_runners:
        used: dict[str, Runner] = {}
        for job in build.pod_jobs(the_pod):
            runner = runners.used_by(job.clawfile, table) if job.clawfile else None
            if runner is not None:
                used.setdefault(runner.alias, runner)
        actions += [_runner_action(r) for r in used.values()]
    return tuple(actions)


def _runner_action(runner: Runner) -> Action:
    return Action(RUNNER, runner.alias, runner.latest, runner)


def _installed(candidates: Iterable[Runner]) -> list[Runner]:
    """The runners whose alias exists locally (bare mode refreshes exactly these)."""
    by_alias = runners.aliases(candidates)
    present = {
        listed.repository
        for listed in docker.list_images(list(by_alias))
        if not listed.tag.startswith(versions.TEMPORARY_PREFIX)
    }
    return [runner for alias, runner in by_alias.items() if alias in present]


# --------------------------------------------------------------------------
# Doing it
# --------------------------------------------------------------------------


def execute(
    the_plan: Plan, *, jobs: int, options: refresh.Options, events: Events, dry_run: bool = False
) -> Report:
    present = docker.inspect_images(a.ref for a in the_plan.actions if a.kind == INFRA)
    if dry_run:
        return Report(the_plan.target, True, tuple(_would(a, present) for a in the_plan.actions))
    do = functools.partial(_do, present=present, options=options, events=events)
    return Report(the_plan.target, False, _run_all(do, the_plan.actions, jobs, options))


def _do(
    action: Action, *, present: dict[str, docker.Image], options: refresh.Options, events: Events
) -> Result:
    if action.kind == INFRA and action.ref in present:
        return Result(action, "present", f"{action.name}: present {action.ref}")
    if action.runner is not None:
        outcome = refresh.refresh(action.runner, options, events)
        return Result(action, outcome.status, outcome.line(), outcome.reason, outcome.hint, outcome)
    return _pull(action, options, events)


def _run_all(
    do: Callable[[Action], Result], actions: Sequence[Action], jobs: int, options: refresh.Options
) -> tuple[Result, ...]:
    """Run the actions on ``jobs`` threads; on Ctrl-C stop every docker child first.

    The pool is never left to finish work behind the operator's back: the
    cancel flag and ``terminate_all`` stop it, and only cleanup still runs.
    """
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="claw-pull")
    try:
        futures = [pool.submit(do, action) for action in actions]
        concurrent.futures.wait(futures)
        return tuple(f.result() for f in futures)
    except BaseException:
        options.cancel.set()
        docker.terminate_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pull(action: Action, options: refresh.Options, events: Events) -> Result:
    try:
        options.check()
        events.progress(action.name, f"pulling {action.ref}")
        docker.pull(
            action.ref,
            attempts=options.retries,
            on_retry=retry_notice(events, action.name),
            on_line=lambda line: events.output(action.name, line),
        )
    except NotAttempted as exc:
        return Result(action, "not-attempted", f"{action.name}: {exc.message}", exc.message)
    except EngineUnreachable:
        raise
    except DockerError as exc:
        if isinstance(exc, RegistryBlocked):
            options.breaker.trip(exc)
        return Result(action, "failed", f"{action.name}: pull failed: {exc.reason}", exc.reason, exc.hint)
    return Result(action, "pulled", f"{action.name}: pulled {action.ref}")


def _would(action: Action, present: dict[str, docker.Image]) -> Result:
    if action.kind == INFRA and action.ref in present:
        return Result(action, "present", f"{action.name}: present {action.ref}")
    if action.runner is None:
        return Result(action, "would-pull", f"{action.name}: would pull {action.ref}")
    runner = action.runner
    now = refresh.current(runner)
    state = "not installed" if now is None else f"now {now.version or 'untagged'}"
    return Result(
        action,
        "would-refresh",
        f"{runner.alias}: would refresh from {runner.recipe_path.name} ({runner.recipe_sha[:19]}; {state})",
    )
