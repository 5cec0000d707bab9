"""Everything claw prints goes through here; the one place that decides colour.

stdout carries results; stderr carries progress, warnings and errors. ``Ui``
also implements ``lib.events.Events`` for long docker work: each step is a
line; docker's own output is shown with ``-v``, and otherwise, on a terminal,
as one live status line that is rewritten in place.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
from typing import TextIO

import click


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
    ) -> None:
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

    def for_engine(self, name: str) -> Ui:
        """This Ui, every line it prints starting with ``[name] `` (one engine of several);
        itself when ``name`` is empty."""
        if not name:
            return self
        made = copy.copy(self)
        made.prefix = f"[{name}] "
        return made

    def result(self, text: str, *, fg: str | None = None) -> None:
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

    def error(self, text: str) -> None:
        first, _, rest = text.partition("\n")
        self._err(click.style(f"error: {first}", fg="red", bold=True))
        if rest:
            self._err(rest)

    # lib.events.Events -------------------------------------------------

    def hint(self, text: str) -> None:
        self._err(click.style(text, fg="yellow"))

    def progress(self, name: str, text: str) -> None:
        self.info(f"{name}: {text}")

    def output(self, name: str, line: str) -> None:
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
