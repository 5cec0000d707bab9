"""The options the commands share, declared once: the global options (on the group and
after each verb, `claw pull -q`), --lock, -f; how --context names and --update-lock's
optional NAME are read, down's refusal of -v, and click's refusals in claw's words.

A shared option given on the command line or through its environment variable sets
itself on the command's ``App`` (``App.set``); given after the verb, it overrides the
group's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
ALL_ENTRIES = "\0all"  # --update-lock without =NAME
VERBOSE_HELP = "Echo every docker command as `$ docker ...`, and show docker's output."
QUIET_HELP = "Print results and errors only: no progress, no warnings."
COLOR_HELP = "Colour output (auto: on a terminal, unless NO_COLOR is set)."
CONFIG_HELP = "Config file (default: $XDG_CONFIG_HOME/claw/config.toml)."
LOCK_HELP = (
    "claw.lock to read and write (default: [pull] lock of the config, else beside the pod, "
    "the Clawfile or the config file)."
)
CONTEXT_HELP = "Run against this docker context; repeat it or separate names by commas for several engines."


def context_names(given: Sequence[str]) -> tuple[str, ...]:
    """``--context a,b --context c`` (or ``CLAW_CONTEXTS="a,b c"``): the names, in order, once."""
    names = [name for value in given for part in value.split(",") for name in part.split()]
    return tuple(dict.fromkeys(names))


def _given(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A shared option that was given (not left at its default) sets itself on the App."""
    source = ctx.get_parameter_source(param.name or "")
    if source not in (None, click.core.ParameterSource.DEFAULT):
        ctx.obj.set(param.name or "", value)


def shared(*, on_group: bool = False, short_verbose: bool = True) -> Callable[[F], F]:
    """The global options as one decorator: on the group with their environment variables,
    defaults and --lock; on a verb without them. ``short_verbose=False``: only the long
    --verbose (`down`, which refuses -v)."""
    verbose = ("-v", "--verbose") if short_verbose else ("--verbose",)
    declared: list[tuple[tuple[str, ...], dict[str, Any], dict[str, Any], bool]] = [
        # the option's names, what it is, what it is on the group alone, after a verb too
        (("--config", "config_path"), {"type": click.Path(dir_okay=False), "help": CONFIG_HELP},
         {"envvar": "CLAW_CONFIG", "show_envvar": True}, True),
        ((*verbose, "verbose"), {"is_flag": True, "help": VERBOSE_HELP}, {}, True),
        (("-q", "--quiet", "quiet"), {"is_flag": True, "help": QUIET_HELP}, {}, True),
        (("--color", "color"), {"type": click.Choice(["auto", "always", "never"]), "help": COLOR_HELP},
         {"default": "auto", "show_default": True}, True),
        (("--context", "contexts"), {"multiple": True, "metavar": "NAME", "help": CONTEXT_HELP},
         {"envvar": "CLAW_CONTEXTS", "show_envvar": True}, True),
        (("--lock", "lock_path"), {"type": click.Path(dir_okay=False), "metavar": "FILE", "help": LOCK_HELP},
         {"envvar": "CLAW_LOCK", "show_envvar": True}, False),
    ]  # fmt: skip
    return _all([
        click.option(*names, **what, **(group if on_group else {}), expose_value=False, callback=_given)
        for names, what, group, after_verb in declared
        if on_group or after_verb
    ])  # fmt: skip


def update_lock_names(
    target: str | None, pod_file: str | None, given: tuple[str, ...]
) -> tuple[str | None, tuple[str, ...] | None]:
    """The target and what `pull --update-lock[=NAME]` updates (None: no update asked; empty:
    every entry). click reads the word after the option as its NAME: in `claw pull
    --update-lock claw-pod.yml`, a word that is a file or folder here, with no target
    given, is the target."""
    paths = [name for name in given if name != ALL_ENTRIES and os.path.exists(name)]
    if target is None and pod_file is None and len(paths) == 1:
        target, given = paths[0], tuple(ALL_ENTRIES if name == paths[0] else name for name in given)
    return target, tuple(name for name in given if name != ALL_ENTRIES) if given else None


def refusal(
    exc: click.ClickException, args: Sequence[str], verbs: Collection[str]
) -> tuple[str | None, str, list[str]]:
    """click's own refusal as claw says its errors: the verb refused (None: before one),
    the message (lower case, the option named) and the words before any ``--``."""
    message = exc.format_message().strip().rstrip(".")
    message = message.replace(". (Did you mean", " (did you mean").replace(". Did you mean", ": did you mean")
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    words = list(args[: args.index("--")] if "--" in args else args)
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.parent is not None:
        command: str | None = ctx.command.name
    else:  # refused while parsing the verb's options: click gives no context
        command = next((word for word in words if word in verbs), None)
    return command, message, words


def _no_short_v(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """`claw down -v`: on every other verb -v says more; here it would delete data."""
    if value:
        raise click.UsageError(
            "down -v is ambiguous: use --volumes to also remove the pod's volumes, "
            "or --verbose to see docker's commands; nothing was stopped",
            ctx,
        )


no_short_volumes = click.option(
    "-v", "short_v", is_flag=True, hidden=True, expose_value=False, callback=_no_short_v
)


def pod_option(function: F) -> F:
    return click.option(
        "-f", "--file", "pod_file", type=click.Path(dir_okay=False), help="Pod file (claw-pod.yml)."
    )(function)


def _all(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    """The options as one decorator, listed in the help in the order given."""

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate
