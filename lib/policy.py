"""What every action of one run shares: the pull policy (retries, keep, max_age),
cancellation, the registry circuit breaker, and a pull under all three. Light on
purpose: every verb loads it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .classify import Breaker
from .config import DEFAULT_MAX_AGE
from .errors import Interrupted, RegistryBlocked
from .events import Events, retry_notice

if TYPE_CHECKING:
    from .engine.docker import Engine


@dataclass(frozen=True)
class Options:
    retries: int = 3
    keep: int = 3
    cancel: threading.Event = field(default_factory=threading.Event)
    breaker: Breaker = field(default_factory=Breaker)
    max_age: int = DEFAULT_MAX_AGE  # seconds; 0: a base is never current

    def check(self) -> None:
        """Raise Interrupted once the run is cancelled, NotAttempted once the breaker has tripped."""
        if self.cancel.is_set():
            raise Interrupted()
        self.breaker.check()

    @contextlib.contextmanager
    def registry(self) -> Iterator[None]:
        """Work that talks to a registry: a refusal (a rate limit, an auth error) trips the
        run's breaker, so that its remaining registry work is not attempted; the refusal
        goes on to the caller."""
        try:
            yield
        except RegistryBlocked as exc:
            self.breaker.trip(exc)
            raise

    def pull(self, engine: Engine, ref: str, events: Events, name: str, *, saying: str = "") -> None:
        """Pull ``ref`` under the run's policy: not attempted once the run is cancelled or the
        breaker has tripped (then ``saying``, if any, is said as ``name``'s progress);
        retried ``retries`` times, each retry said; docker's lines as ``name``'s output."""
        self.check()
        if saying:
            events.progress(name, saying)
        with self.registry():
            engine.pull(
                ref,
                attempts=self.retries,
                on_retry=retry_notice(events, name),
                on_line=lambda line: events.output(name, line),
            )
