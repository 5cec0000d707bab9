"""Invocations for unit tests: the CLI's own ``make``, on a given engine and asker.

``invocation`` builds what ``lib.invocation.make`` builds for a target, then puts it on
``engine`` (the in-memory ``Model``, say) with upstream questions going to ``asker``.
``making`` is a stand-in for ``lib.invocation.make`` itself, for tests that go through
the CLI (``monkeypatch.setattr(invocation, "make", making(engine))``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from lib import config
from lib.asker import Asker
from lib.engine.docker import Engine
from lib.events import Events
from lib.invocation import Invocation, make
from lib.target import Target
from tests.harness.recorder import Recorder


@dataclasses.dataclass(frozen=True)
class Given(Invocation):
    """An invocation whose upstream questions go to ``given_asker`` (none: a test that
    asks no upstream, and fails if claw asks one)."""

    given_asker: Asker | None = None

    @property
    def asker(self) -> Asker:
        if self.given_asker is None:
            raise AssertionError("this test gives no asker, yet an upstream was asked")
        return self.given_asker


def on(made: Invocation, engine: Engine, asker: Asker | None = None) -> Given:
    """``made`` (an invocation as ``make`` built it) on ``engine``, asking ``asker``."""
    fields = {field.name: getattr(made, field.name) for field in dataclasses.fields(Invocation)}
    return Given(**{**fields, "engine": engine}, given_asker=asker)


def invocation(
    where: Target,
    engine: Engine,
    asker: Asker | None = None,
    *,
    cfg: config.Config | None = None,
    events: Events | None = None,
    jobs: int | None = None,
) -> Given:
    """The invocation the CLI would build for ``where``, on ``engine``, asking ``asker``.
    Cancelling it (``options.cancel``) is stopping ``engine``'s children, as in claw."""
    made = make(cfg or config.Config(), events or Recorder(), where, jobs=jobs, children=engine.children)
    return on(made, engine, asker)


def making(engine: Engine, asker: Asker | None = None) -> Callable[..., Invocation]:
    """A stand-in for ``lib.invocation.make`` whose invocations are on ``engine``."""

    def made(*args: Any, **kwargs: Any) -> Invocation:
        return on(make(*args, **{**kwargs, "children": engine.children}), engine, asker)

    return made
