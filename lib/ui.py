"""Everything claw prints goes through here; the one place that decides colour.

stdout carries results; stderr carries progress, warnings and errors.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
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


@dataclass
class Ui:
    color: str = "auto"
    verbose: bool = False
    quiet: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        self._out_color = wants_color(self.color, self.out)
        self._err_color = wants_color(self.color, self.err)
        if (self._out_color or self._err_color) and os.name == "nt":
            import colorama

            colorama.just_fix_windows_console()

    def result(self, text: str, *, fg: str | None = None) -> None:
        click.echo(click.style(text, fg=fg), file=self.out, color=self._out_color)

    def info(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, file=self.err, color=self._err_color)

    def detail(self, text: str) -> None:
        """Only with -v: the docker commands claw runs and similar detail."""
        if self.verbose:
            click.echo(click.style(text, dim=True), file=self.err, color=self._err_color)

    def warn(self, text: str) -> None:
        click.echo(click.style(f"warning: {text}", fg="yellow"), file=self.err, color=self._err_color)

    def error(self, text: str) -> None:
        first, _, rest = text.partition("\n")
        click.echo(click.style(f"error: {first}", fg="red", bold=True), file=self.err, color=self._err_color)
        if rest:
            click.echo(rest, file=self.err, color=self._err_color)
