"""How long-running domain code reports progress without printing.

The CLI hands a ``ui.Ui`` (which implements ``Events``) to the verbs through the
invocation; tests hand a recorder. Domain code never prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


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


def retry_notice(events: Events, name: str) -> Callable[[Exception, int, float], None]:
    """What to say before a transient registry error is retried."""

    def say(error: Exception, attempt: int, wait: float) -> None:
        reason = getattr(error, "reason", None) or str(error)
        events.warn(f"{name}: {reason}; retrying in {wait:.0f}s (attempt {attempt + 1})")

    return say
