"""One command's world, built once from the CLI options and handed to the verb.

The config, the runner table, the engine, the target (read and parsed once),
the pull policy (jobs, retries, keep), cancellation, the registry circuit
breaker, and the event sink. Verbs read what they need from here; nothing is
looked up twice in one run.

A command that names several docker contexts (SPEC §11) gets a ``Fleet``: one
invocation per engine, sharing the config and the target, each with its own
engine, cancellation, breaker and prefixed output, run side by side.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from . import infra, lockfile, runners, upstreams
from .config import Config
from .engine.docker import Engine
from .engine.process import Children
from .errors import ClawError, InputError
from .events import Events, retry_notice
from .policy import Options
from .runners import Runner
from .target import BareTarget, PodTarget, Target, read_clawfile
from .ui import Ui

if TYPE_CHECKING:
    from .asker import Asker


@dataclass(frozen=True)
class Invocation:
    config: Config
    events: Events
    engine: Engine
    target: Target
    jobs: int
    options: Options  # retries, keep, cancellation, the circuit breaker
    fleet_name: str = ""  # the context's name when the command drives several engines
    lock_given: str | None = None  # --lock FILE

    @cached_property
    def table(self) -> dict[str, Runner]:
        """The runner table: built-in runners with the config's overrides, each runner that
        claw.lock names held at its lock tag (the lock acts as the pod's pin, SPEC §12.3)."""
        table = runners.table(self.config)
        return runners.held_by(table, self.lock.bases) if self.lock else table

    @cached_property
    def lock_path(self) -> Path:
        """Where claw.lock is for this command (SPEC §12.2), whether or not it exists."""
        where = self.target
        beside = where.path.parent if not isinstance(where, BareTarget) else None
        if beside is None and self.config.path is not None:
            beside = self.config.path.parent
        return lockfile.locate(self.lock_given, self.config.pull.lock, beside)

    @cached_property
    def lock(self) -> lockfile.Lock | None:
        """The lock, read once; None when there is no lock file."""
        return lockfile.read(self.lock_path)

    @cached_property
    def pins(self) -> Mapping[str, str]:
        """The infra refs in force."""
        return infra.pinned(self.config.infra)

    @cached_property
    def asker(self) -> Asker:
        """Asks npm, PyPI and git remotes (livecheck); its imports are paid only when used."""
        from .asker import Asker

        settings = self.config.livecheck
        try:
            where = upstreams.endpoints(settings.npm, settings.pypi)
        except ValueError as exc:
            raise InputError(f"livecheck endpoints: {exc}") from None
        notice = retry_notice(self.events, "livecheck")
        return Asker(where, attempts=self.options.retries, on_retry=notice)

    def pod_target(self) -> PodTarget:
        """The target, which must be a pod (up, down)."""
        where = self.target
        if isinstance(where, PodTarget):
            return where
        if isinstance(where, BareTarget):
            raise InputError("no pod here: run where claw-pod.yml is, or name the pod with -f")
        raise InputError(f"{where.path}: not a pod file (a pod file ends in .yml or .yaml)")

    def stop(self) -> None:
        """Ctrl-C or SIGTERM: stop every docker child of this command."""
        self.engine.children.stop_all()


def make(
    config: Config,
    events: Events,
    where: Target,
    *,
    verbose: bool = False,
    jobs: int | None = None,
    children: Children | None = None,
    context: str | None = None,
    fleet_name: str = "",
    lock: str | None = None,
) -> Invocation:
    children = children or Children()
    engine = Engine(context, children=children, echo=events.detail if verbose else None)
    pulling = config.pull
    options = Options(pulling.retries, pulling.keep, children.stopping, max_age=pulling.max_age)
    return Invocation(config, events, engine, where, jobs or config.pull.jobs, options, fleet_name, lock)


T = TypeVar("T")


@dataclass(frozen=True)
class Done(Generic[T]):
    """What one engine's work came to: its value, or the error that ended it."""

    inv: Invocation
    value: T | None = None
    error: ClawError | None = None


@dataclass(frozen=True)
class Fleet:
    """The invocations of one command: one per engine (one unless several contexts)."""

    invocations: tuple[Invocation, ...]

    def run(
        self, work: Callable[[Invocation], T], *, rest: Callable[[Invocation], T] | None = None
    ) -> list[Done[T]]:
        """``work`` on every engine. One engine is a fleet of one: ``work`` runs as it is
        and its error goes on unchanged. Several run side by side (``each``); with
        ``rest``, ``work`` runs on the first engine alone, then ``rest`` on the others
        (``pull --update-lock``: one engine asks and writes the lock, the others build it)."""
        first, *others = self.invocations
        if not others:
            return [Done(first, value=work(first))]
        if rest is None:
            return self.each(work)
        return Fleet((first,)).each(work) + Fleet(tuple(others)).each(rest)

    def each(self, work: Callable[[Invocation], T]) -> list[Done[T]]:
        """``work`` on every engine side by side (at most ``jobs`` engines at once). One
        engine's failure (unreachable, a failed build) ends only that engine's work; on
        Ctrl-C every engine's children are stopped before the interruption goes on."""

        def one(inv: Invocation) -> Done[T]:
            try:
                return Done(inv, value=work(inv))
            except ClawError as exc:
                return Done(inv, error=exc)

        jobs = self.invocations[0].jobs
        return in_parallel(one, self.invocations, jobs, stop=self.stop, name="claw-engine")

    def stop(self) -> None:
        for inv in self.invocations:
            inv.stop()


U = TypeVar("U")


def in_parallel(
    work: Callable[[U], T], items: Sequence[U], jobs: int, *, stop: Callable[[], None], name: str
) -> list[T]:
    """``work`` on each item, on up to ``jobs`` threads; the results in the items' order.

    On Ctrl-C (or any error here) ``stop`` runs first, stopping every docker child, and
    the pool is never left to finish work behind the operator's back. The wait wakes
    every tenth of a second: a signal the kernel handed to a worker thread is then seen
    at once, instead of when the work is done."""
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(jobs, len(items))), thread_name_prefix=name
    )
    try:
        futures = [pool.submit(work, item) for item in items]
        while concurrent.futures.wait(futures, timeout=0.1).not_done:
            pass
        return [future.result() for future in futures]
    except BaseException:
        stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def fleet(
    config: Config,
    ui: Ui,
    where: Target,
    contexts: Sequence[str],
    *,
    jobs: int | None = None,
    lock: str | None = None,
) -> Fleet:
    """One invocation per named docker context (none named: the environment's engine).
    A context docker does not know is bad input, named with the ones it knows."""
    if not contexts:
        return Fleet((make(config, ui, where, verbose=ui.verbose, jobs=jobs, lock=lock),))
    known = Engine().context_names()
    unknown = [name for name in contexts if name not in known]
    if unknown:
        raise InputError(
            f"--context: no docker context {', '.join(map(repr, unknown))} (known: {', '.join(known)})",
            hint="create one with `docker context create NAME --docker host=ssh://USER@HOST`",
        )
    several = len(contexts) > 1
    return Fleet(tuple(
        make(config, ui.for_engine(name if several else ""), where, verbose=ui.verbose, jobs=jobs,
             context=name, fleet_name=name if several else "", lock=lock)
        for name in contexts
    ))  # fmt: skip


def fallback_clawfile(where: Target, cwd: Path) -> Target:
    """`claw build` with no target and no pod here builds ./Clawfile when there is one."""
    if isinstance(where, BareTarget) and (cwd / "Clawfile").is_file():
        return read_clawfile(Path("Clawfile"), given=False)
    return where
