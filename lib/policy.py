"""What every action of one run shares: the pull policy (retries, keep, max_age),
cancellation, and the registry circuit breaker. Light on purpose: every verb loads it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .classify import Breaker
from .config import DEFAULT_MAX_AGE
from .errors import Interrupted


@dataclass(frozen=True)
class Options:
    retries: int = 3
    keep: int = 3
    cancel: threading.Event = field(default_factory=threading.Event)
    breaker: Breaker = field(default_factory=Breaker)
    max_age: int = DEFAULT_MAX_AGE  # seconds; 0: a base is never current

    def check(self) -> None:
        if self.cancel.is_set():
            raise Interrupted()
        self.breaker.check()
