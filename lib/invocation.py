"""One command's world, built once from the CLI options and handed to the verb.

The config, the runner table, the engine, the target (read and parsed once),
the pull policy (jobs, retries, keep), cancellation, the registry circuit
breaker, and the event sink. Verbs read what they need from here; nothing is
looked up twice in one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from . import infra, runners, upstreams
from .config import Config
from .engine.docker import Engine
from .engine.process import Children
from .errors import InputError
from .events import Events, retry_notice
from .policy import Options
from .runners import Runner
from .target import BareTarget, PodTarget, Target, read_clawfile

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

    @cached_property
    def table(self) -> dict[str, Runner]:
        """The runner table: built-in runners with the config's overrides."""
        return runners.table(self.config)

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
) -> Invocation:
    children = children or Children()
    engine = Engine(children=children, echo=events.detail if verbose else None)
    pulling = config.pull
    options = Options(pulling.retries, pulling.keep, children.stopping, max_age=pulling.max_age)
    return Invocation(config, events, engine, where, jobs or config.pull.jobs, options)


def fallback_clawfile(where: Target, cwd: Path) -> Target:
    """`claw build` with no target and no pod here builds ./Clawfile when there is one."""
    if isinstance(where, BareTarget) and (cwd / "Clawfile").is_file():
        return read_clawfile(Path("Clawfile"), given=False)
    return where
