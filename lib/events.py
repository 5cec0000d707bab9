"""How long-running domain code reports progress without printing.

``claw.py`` hands a ``lib.ui.Ui`` (which implements ``Events``) to the domain
functions; tests hand ``Recorder``. Domain code never prints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from lib.errors import DockerError


class Events(Protocol):
    def progress(self, name: str, text: str) -> None:
        """A step of the work on ``name`` (a runner alias, a service, a component) begins."""

    def output(self, name: str, line: str) -> None:
        """A line docker printed while working on ``name``."""

    def warn(self, text: str) -> None:
        """Something the operator should know; the work goes on."""

    def hint(self, text: str) -> None:
        """Advice the operator asked for by running the verb (the drift hint); shown even with -q."""

    def detail(self, text: str) -> None:
        """Shown only with -v."""


def retry_notice(events: Events, name: str) -> Callable[[DockerError, int, float], None]:
    """What to say before a transient registry error is retried."""

    def say(error: DockerError, attempt: int, wait: float) -> None:
        events.warn(f"{name}: {error.reason}; retrying in {wait:.0f}s (attempt {attempt + 1})")

    return say


@dataclass
class Recorder:
    """Keeps every event, in order (for tests)."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, name: str, text: str) -> None:
        self._add("progress", name, text)

    def output(self, name: str, line: str) -> None:
        self._add("output", name, line)

    def warn(self, text: str) -> None:
        self._add("warn", "", text)

    def hint(self, text: str) -> None:
        self._add("hint", "", text)

    def detail(self, text: str) -> None:
        self._add("detail", "", text)

    def _add(self, kind: str, name: str, text: str) -> None:
        with self._lock:
            self.events.append((kind, name, text))

    def of(self, kind: str) -> list[str]:
        return [text for k, _, text in self.events if k == kind]
