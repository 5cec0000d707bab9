"""A pull's actions and what each came to (SPEC §4), as data, and the world they work in.

The plan is a list of ``Action``s (a pinned infra image, a registry image, a runner
base); each ends as a ``Result``. ``World`` is what an action works with: the
command's invocation, as far as the actions read it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import bases, lockfile
from .engine.docker import Engine, Image
from .errors import DockerError, NotAttempted
from .events import Events
from .policy import Options
from .runners import Runner
from .status import Status
from .target import Target

if TYPE_CHECKING:
    from .asker import Asker


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

    @classmethod
    def of(cls, action: Action, outcome: bases.Outcome) -> Result:
        """The result of a runner's action, as its outcome says it."""
        return cls(action, outcome.status, outcome.line(), outcome.reason, outcome.hint, outcome)

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


class World(Protocol):
    """What the actions of one engine work with (an ``Invocation`` is one)."""

    @property
    def engine(self) -> Engine: ...
    @property
    def options(self) -> Options: ...
    @property
    def events(self) -> Events: ...
    @property
    def asker(self) -> Asker: ...
    @property
    def target(self) -> Target: ...
    @property
    def lock(self) -> lockfile.Lock | None: ...
    @property
    def lock_path(self) -> Path: ...


def runner_action(runner: Runner) -> Action:
    return Action(Kind.RUNNER, runner.alias, runner.latest, runner)


def pinned(
    action: Action, runner: Runner, image: Image, upstream: str = "", status: Status = Status.PINNED
) -> Result:
    """A pinned runner is never refreshed; ``upstream`` is what --check learned of it."""
    pin = runner.pin or ""
    outcome = bases.Outcome(runner, Status.PINNED, bases.Installed(image.id, pin), pin, image.id)
    line = outcome.line() + (f" (upstream: {upstream})" if upstream else "")
    return Result(action, status, line, outcome=outcome)


def present(action: Action, note: str = "") -> Result:
    return Result(action, Status.PRESENT, f"{action.name}: present {action.ref}{note}")


def unknown(action: Action, reason: str) -> Result:
    """A question about ``action`` that could not be answered."""
    return Result(action, Status.UNKNOWN, f"{action.name}: cannot tell: {reason}", reason)


def pull(world: World, action: Action) -> Result:
    """Pull a registry image under the run's policy."""
    try:
        world.options.pull(
            world.engine, action.ref, world.events, action.name, saying=f"pulling {action.ref}"
        )
    except NotAttempted as exc:
        return Result(action, Status.NOT_ATTEMPTED, f"{action.name}: {exc.message}", exc.message)
    except DockerError as exc:
        line = f"{action.name}: pull failed: {exc.reason}"
        return Result(action, Status.FAILED, line, exc.reason, exc.hint)
    return Result(action, Status.PULLED, f"{action.name}: pulled {action.ref}")
