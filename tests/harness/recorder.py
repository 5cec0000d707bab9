"""An event sink that keeps every event, in order (implements ``lib.events.Events``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Recorder:
    """Keeps every event, in order (for tests). ``on_event`` (kind, name, text) is called
    after each one is kept, in the thread that reported it: a test acts on a moment of
    the work (say, releasing a lock once the work says it waits) without a timer."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    on_event: Callable[[str, str, str], None] | None = None
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
        if self.on_event is not None:
            self.on_event(kind, name, text)

    def of(self, kind: str) -> list[str]:
        return [text for k, _, text in self.events if k == kind]
