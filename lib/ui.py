"""Everything claw prints goes through here; the one place that decides colour.

stdout carries results; stderr carries progress, warnings and errors. ``Ui``
also implements ``lib.events.Events`` for long docker work: each step is a
line; docker's own output is shown with ``-v``, and otherwise, on a terminal,
as one live status line that is rewritten in place.
"""

from __future__ import annotations

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
        self._status = False  # a live status line is on screen
        self._lock = threading.RLock()

    def result(self, text: str, *, fg: str | None = None) -> None:
        with self._lock:
            self._clear_status()
            click.echo(click.style(text, fg=fg) if fg else text, file=self.out, color=self._out_color)

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
            self._err(click.style(f"  {name} | {line}", dim=True))
        elif self._live and line.strip():
            import shutil

            with self._lock:
                width = shutil.get_terminal_size().columns - 1
                self.err.write("\r\x1b[2K" + f"  {name} | {line.strip()}"[:width])
                self.err.flush()
                self._status = True

    def _err(self, text: str) -> None:
        with self._lock:
            self._clear_status()
            click.echo(text, file=self.err, color=self._err_color)

    def _clear_status(self) -> None:
        if self._status:
            self.err.write("\r\x1b[2K")
            self._status = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
