"""Everything claw prints goes through here; the one place that decides colour.

stdout carries results; stderr carries progress, warnings and errors. ``Ui``
also implements ``lib.events.Events`` for long docker work: each step is a
line; docker's own output is shown with ``-v``, and otherwise, on a terminal,
as one live status line that is rewritten in place.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import click

STILL_EVERY = 30.0  # seconds between the "still building" lines of a long step in a log


def wants_color(choice: str, stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """``--color always|never|auto``; auto honours NO_COLOR and needs a TTY."""
    env = os.environ if environ is None else environ
    if choice == "always":
        return True
    if choice == "never" or env.get("NO_COLOR"):
        return False
    return stream.isatty()


class Ui:
    def __init__(
        self,
        color: str = "auto",
        verbose: bool = False,
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        every: float = STILL_EVERY,
        clock: Callable[[], float] = time.monotonic,
        ticking: bool = True,
    ) -> None:
        """``every``: seconds between the "still building" lines of a long step when
        stderr is no terminal; ``clock`` measures them; ``ticking=False`` leaves calling
        ``tick`` to the caller (a test), instead of a thread that calls it each second."""
        self.color, self.verbose, self.quiet = color, verbose, quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._out_color = wants_color(self.color, self.out)
        self._err_color = wants_color(self.color, self.err)
        if (self._out_color or self._err_color) and os.name == "nt":
            import colorama

            colorama.just_fix_windows_console()
        self._live = _isatty(self.err) and not self.verbose and not self.quiet
        self._screen = _Screen()  # shared with the prefixed copies of this Ui
        self.prefix = ""
        self._steps = _Steps(every, clock, ticking and not self._live and not self.quiet)

    def for_engine(self, name: str) -> Ui:
        """This Ui, every line it prints starting with ``[name] `` (one engine of several);
        itself when ``name`` is empty."""
        if not name:
            return self
        made = copy.copy(self)
        made.prefix = f"[{name}] "
        return made

    def result(self, text: str, *, fg: str | None = None) -> None:
        self._steps.clear()  # results come once the work is done
        with self._screen.lock:
            self._clear_status()
            styled = click.style(self._prefixed(text), fg=fg) if fg else self._prefixed(text)
            click.echo(styled, file=self.out, color=self._out_color)

    def info(self, text: str) -> None:
        if not self.quiet:
            self._err(text)

    def detail(self, text: str) -> None:
        """Only with -v: the docker commands claw runs and similar detail."""
        if self.verbose:
            self._err(click.style(text, dim=True))

    def warn(self, text: str) -> None:
        if not self.quiet:
            self._err(click.style(f"warning: {text}", fg="yellow"))

    def done(self) -> None:
        """The command is over: no step goes on (the "still ..." thread ends with them)."""
        self._steps.clear()

    def error(self, text: str) -> None:
        self._steps.clear()  # the command ends here: no step goes on
        first, _, rest = text.partition("\n")
        self._err(click.style(f"error: {first}", fg="red", bold=True))
        if rest:
            self._err(rest)

    # lib.events.Events -------------------------------------------------

    def hint(self, text: str) -> None:
        self._err(click.style(text, fg="yellow"))

    def progress(self, name: str, text: str) -> None:
        self.info(f"{name}: {text}")
        if not self._live and not self.quiet:
            self._steps.begin(self.prefix + name, text, self.tick)

    def tick(self) -> None:
        """Without a terminal: one "still building" line per long step each ``every``
        seconds (a pipe, CI, cron: nothing else says the work goes on)."""
        for line in self._steps.due():  # each line already starts with its engine's prefix
            if not self.quiet and not self.err.closed:
                with self._screen.lock:
                    self._clear_status()
                    click.echo(line, file=self.err, color=self._err_color)

    def output(self, name: str, line: str) -> None:
        self._steps.saw(self.prefix + name, line)
        if self.verbose:
            self._err(click.style(f"{name} | {line}", dim=True), indent="  ")
        elif self._live and line.strip():
            import shutil

            with self._screen.lock:
                width = shutil.get_terminal_size().columns - 1
                self.err.write("\r\x1b[2K" + f"  {self.prefix}{name} | {line.strip()}"[:width])
                self.err.flush()
                self._screen.status = True

    def _err(self, text: str, indent: str = "") -> None:
        with self._screen.lock:
            self._clear_status()
            click.echo(indent + self._prefixed(text), file=self.err, color=self._err_color)

    def _prefixed(self, text: str) -> str:
        """Every line of ``text`` starting with the engine's prefix (if any)."""
        if not self.prefix:
            return text
        return "\n".join(self.prefix + line for line in text.split("\n"))

    def _clear_status(self) -> None:
        if self._screen.status:
            self.err.write("\r\x1b[2K")
            self._screen.status = False


LONG_STEPS = ("building", "pulling")  # a step that begins so is docker's long work
_STEP = re.compile(r"^Step (\d+)/(\d+) :|^#\d+ \[(?:[^\]]*\s)?(\d+)/(\d+)\]")
_DONE = re.compile(
    r"^Successfully built |^Successfully tagged |^#\d+ writing image \S+ done|^#\d+ naming to \S+ done"
    r"|^Status: (?:Downloaded newer image|Image is up to date) "
)


@dataclass
class _Step:
    activity: str  # "building", "pulling"
    started: float
    shown: float  # when it was last said
    step: str = ""  # "4/7": the Dockerfile step docker is at


class _Steps:
    """The long steps under way (a build, a pull), for their "still ..." lines: one begins
    with its progress line and ends with the next one of the same name, docker's own
    words that it is done, or the results."""

    def __init__(self, every: float, clock: Callable[[], float], ticking: bool) -> None:
        self.every, self.clock, self.ticking = every, clock, ticking
        self.lock = threading.Lock()
        self.steps: dict[str, _Step] = {}
        self.thread: threading.Thread | None = None

    def begin(self, name: str, text: str, tick: Callable[[], None]) -> None:
        activity = text.split(" ", 1)[0]
        with self.lock:
            self.steps.pop(name, None)
            if activity not in LONG_STEPS:
                return
            now = self.clock()
            self.steps[name] = _Step(activity, now, now)
            if self.ticking and self.thread is None:
                self.thread = threading.Thread(target=self._run, args=(tick,), daemon=True)
                self.thread.start()

    def saw(self, name: str, line: str) -> None:
        with self.lock:
            step = self.steps.get(name)
            if step is None:
                return
            if _DONE.match(line.strip()):
                del self.steps[name]
                return
            found = _STEP.match(line.strip())
            if found:
                done, total = (found[1], found[2]) if found[1] else (found[3], found[4])
                step.step = f"{done}/{total}"

    def clear(self) -> None:
        with self.lock:
            self.steps.clear()

    def due(self) -> list[str]:
        now = self.clock()
        lines = []
        with self.lock:
            for name, step in self.steps.items():
                if now - step.shown >= self.every:
                    step.shown = now
                    at = f", step {step.step}" if step.step else ""
                    lines.append(f"{name}: still {step.activity} ({_elapsed(now - step.started)}{at})")
        return lines

    def _run(self, tick: Callable[[], None]) -> None:
        """Each second while a long step is under way; the thread ends with the last one
        (the next step to begin starts another), so none outlives the command's work."""
        while True:
            time.sleep(1.0)
            with self.lock:
                if not self.steps:
                    self.thread = None
                    return
            tick()


def _elapsed(seconds: float) -> str:
    """``45s``, ``1m30s``, ``1h05m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class _Screen:
    """What the terminal shows now, shared by a Ui and its prefixed copies."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.status = False  # a live status line is on screen


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
