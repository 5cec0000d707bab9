"""The command line: parse options, build the invocation, call a verb, print, exit code.

Errors reach ``main`` and become one line and an exit code (``EXIT_CODES``, from
``errors.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__, lifecycle, reporting
from .errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_READY,
    EXIT_USAGE,
    ClawError,
    Interrupted,
    NotReady,
)
from .ui import Ui

if TYPE_CHECKING:
    from .invocation import Fleet, Invocation
    from .verbs.pull import Report

# Heavy modules (sh, tenacity, yaml, tomlkit, json, the verbs) are imported
# inside the functions that need them: `claw --help` and `--version` stay fast
# (`make bench` measures it).

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
ALL_ENTRIES = "\0all"  # --update-lock without =NAME
EXIT_CODES = (
    f"Exit status: 0 success, {EXIT_FAILED} failed, {EXIT_USAGE} bad input or usage, "
    f"{EXIT_NOT_READY} something to do (up not ready, pull --check behind), "
    f"{EXIT_INTERRUPTED} interrupted."
)


class App:
    """What the global options decide, and the invocations once a verb has built them."""

    def __init__(self, ui: Ui | None = None, config_path: str | None = None) -> None:
        self.ui = ui or Ui()
        self.config_path = config_path
        self.contexts: tuple[str, ...] = ()  # --context: none named, the environment's engine
        self.lock_path: str | None = None  # --lock FILE
        self.fleet: Fleet | None = None

    def set(self, name: str, value: Any) -> None:
        """A global option, given before the verb or after it."""
        if name == "config_path":
            self.config_path = value
            return
        if name == "contexts":
            self.contexts = context_names(value)
            return
        settings = {"color": self.ui.color, "verbose": self.ui.verbose, "quiet": self.ui.quiet}
        self.ui = Ui(**{**settings, name: value})

    def invoke(
        self,
        positional: str | None,
        pod_file: str | None,
        *,
        jobs: int | None = None,
        clawfile_fallback: bool = False,
        bare: bool = False,
    ) -> Fleet:
        """Build the invocations of this command, one per engine: config, then the target,
        read once (``bare``: the command acts on the host, whatever pod file is here)."""
        from pathlib import Path

        from . import config, invocation, target

        if pod_file and positional:
            raise click.UsageError("give the pod file either with -f or as an argument, not both")
        loaded = config.load(self.config_path)
        cwd = Path.cwd()
        where = (
            target.BareTarget()
            if bare
            else target.resolve(positional, pod_file, cwd, self.ui.detail, self.ui.warn)
        )
        if clawfile_fallback:
            where = invocation.fallback_clawfile(where, cwd)
        self.fleet = invocation.fleet(loaded, self.ui, where, self.contexts, jobs=jobs, lock=self.lock_path)
        return self.fleet

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()


def context_names(given: Sequence[str]) -> tuple[str, ...]:
    """``--context a,b --context c`` (or ``CLAW_CONTEXTS="a,b c"``): the names, in order, once."""
    names = [name for value in given for part in value.split(",") for name in part.split()]
    return tuple(dict.fromkeys(names))


F = TypeVar("F", bound=Callable[..., Any])


def pod_option(function: F) -> F:
    return click.option(
        "-f", "--file", "pod_file", type=click.Path(dir_okay=False), help="Pod file (claw-pod.yml)."
    )(function)


VERBOSE_HELP = "Echo every docker command as `$ docker ...`, and show docker's output."
QUIET_HELP = "Print results and errors only: no progress, no warnings."
COLOR_HELP = "Colour output (auto: on a terminal, unless NO_COLOR is set)."
CONFIG_HELP = "Config file (default: $XDG_CONFIG_HOME/claw/config.toml)."
LOCK_HELP = (
    "claw.lock to read and write (default: [pull] lock of the config, else beside the pod, "
    "the Clawfile or the config file)."
)
CONTEXT_HELP = "Run against this docker context; repeat it or separate names by commas for several engines."


def _given(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the verb overrides the group's."""
    source = ctx.get_parameter_source(param.name or "")
    if source not in (None, click.core.ParameterSource.DEFAULT):
        ctx.ensure_object(App).set(param.name or "", value)


def _global_options(*, on_verb: bool, short_verbose: bool = True) -> list[Callable[[F], F]]:
    """The global options, declared once: on the group with their environment variables
    and defaults, and on each verb (`claw pull -q`), where they override the group's.
    ``short_verbose=False``: only the long --verbose (`down`, which refuses -v)."""
    verbose = ("-v", "--verbose") if short_verbose else ("--verbose",)
    declared: list[tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]] = [
        # the option's names, what it is, what it is on the group alone
        (("--config", "config_path"), {"type": click.Path(dir_okay=False), "help": CONFIG_HELP},
         {"envvar": "CLAW_CONFIG", "show_envvar": True}),
        ((*verbose, "verbose"), {"is_flag": True, "help": VERBOSE_HELP}, {}),
        (("-q", "--quiet", "quiet"), {"is_flag": True, "help": QUIET_HELP}, {}),
        (("--color", "color"), {"type": click.Choice(["auto", "always", "never"]), "help": COLOR_HELP},
         {"default": "auto", "show_default": True}),
        (("--context", "contexts"), {"multiple": True, "metavar": "NAME", "help": CONTEXT_HELP},
         {"envvar": "CLAW_CONTEXTS", "show_envvar": True}),
    ]  # fmt: skip
    on_verbs = {"expose_value": False, "callback": _given}
    return [
        click.option(*names, **what, **(on_verbs if on_verb else on_group))
        for names, what, on_group in declared
    ]


def _options(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    """The options as one decorator, listed in the help in the order given."""

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def global_options(*, short_verbose: bool = True) -> Callable[[F], F]:
    """The group's options, accepted after the verb too."""
    return _options(_global_options(on_verb=True, short_verbose=short_verbose))


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
@_options([
    *_global_options(on_verb=False),
    click.option("--lock", "lock_path", envvar="CLAW_LOCK", show_envvar=True,
                 type=click.Path(dir_okay=False), metavar="FILE", help=LOCK_HELP),
])  # fmt: skip
@click.version_option(__version__, "--version", prog_name="claw")
@click.pass_obj
def cli(
    app: App,
    config_path: str | None,
    verbose: bool,
    quiet: bool,
    color: str,
    contexts: tuple[str, ...],
    lock_path: str | None,
) -> None:
    """Fresh, reproducible, traceable runner bases for AI-agent containers.

    With --context naming several docker contexts, pull and build work on the
    engines side by side and up and down run the pod on each; every line then
    starts with its engine's name, and the command fails if any engine failed.
    """
    app.ui = Ui(color=color, verbose=verbose, quiet=quiet)
    app.config_path = config_path
    app.contexts = context_names(contexts)
    app.lock_path = lock_path


@cli.command(context_settings=CONTEXT)
@click.argument("target", required=False)
@pod_option
@click.option("--no-runners", is_flag=True, help="Do not refresh runner bases.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Pulls and refreshes in flight at once (default: [pull] jobs, 2).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Ask upstream and the registries what a pull would change; change and download nothing "
    "(exit 3 when something would). --dry-run asks nobody.",
)
@click.option("--rebuild", is_flag=True, help="Refresh runner bases even when nothing moved upstream.")
@click.option(
    "--rollback",
    metavar="RUNNER[:TAG]",
    help="Move RUNNER's latest back to the version before it (or to TAG); build nothing.",
)
@click.option(
    "--locked",
    is_flag=True,
    help="Build exactly what claw.lock names; never ask upstream, never write the lock (CI, deploy).",
)
@click.option(
    "--update-lock",
    "update_lock",
    multiple=True,
    is_flag=False,
    flag_value=ALL_ENTRIES,
    metavar="[=NAME]",
    help="Ask upstream, refresh what moved and write claw.lock; =NAME (repeatable): only that runner "
    "(driver or alias) or image.SERVICE.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan without asking anyone (a runner: would ask upstream, then refresh if "
    "something moved); change nothing. --check asks upstream what would change.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document of actions and outcomes.")
@global_options()
@click.pass_obj
def pull(
    app: App,
    target: str | None,
    pod_file: str | None,
    no_runners: bool,
    jobs: int | None,
    check: bool,
    rebuild: bool,
    rollback: str | None,
    locked: bool,
    update_lock: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Pull pinned infra and registry images; refresh the runner bases that moved upstream.

    TARGET is a pod file, a Clawfile, or a directory holding a Clawfile. With
    none, the pod file here (claw-pod.yml) is used; without one, every runner
    base present on this host is refreshed and the full pinned infra pulled.
    A runner base is rebuilt only when its recipe, a FROM image or an upstream
    moved, or it is older than [pull] max_age. --check exits 0 when everything
    is current, 3 when a pull would change something, 1 when a question failed.
    A runner pinned in the config ([runners.NAME] pin) is left as it is.

    --rollback RUNNER moves RUNNER's latest to the newest version older than
    the one it names (--rollback RUNNER:TAG: to TAG), with one docker tag;
    RUNNER is a driver or an alias. Nothing is built, pulled or removed.

    With a claw.lock, pull builds what the lock names (latest is left alone)
    and says what upstream has beyond it; --locked also refuses, before any
    build, a target the lock does not cover; --update-lock writes the lock.
    """
    from .verbs import pull as pulling

    if sum((check, rebuild, dry_run)) > 1:
        raise click.UsageError("--check, --rebuild and --dry-run do not go together")
    if rollback is not None and (target or pod_file or check or rebuild or no_runners or locked):
        raise click.UsageError(
            "--rollback goes with --dry-run and --json only (no target, --check, --rebuild or --locked)"
        )
    if update_lock and (check or locked or rollback is not None):
        raise click.UsageError("--update-lock does not go with --check, --locked or --rollback")
    if locked and rebuild:
        raise click.UsageError("--locked builds what the lock names: it does not go with --rebuild")
    target, update_lock = _target_after_update_lock(target, pod_file, update_lock)
    names = None if not update_lock else tuple(n for n in update_lock if n != ALL_ENTRIES)
    mode = pulling.Mode(dry_run=dry_run, check=check, rebuild=rebuild, locked=locked, update_lock=names)

    def work(inv: Invocation) -> pulling.Report:
        if rollback is not None:
            return pulling.rollback(inv, rollback, dry_run=dry_run)
        return pulling.run(inv, no_runners=no_runners, mode=mode, with_versions=as_json or check)

    def follow_lock(inv: Invocation) -> pulling.Report:
        """The other engines of --update-lock build the lock the first one wrote."""
        locking = replace(mode, update_lock=None, locked=True)
        return pulling.run(inv, no_runners=no_runners, mode=locking, with_versions=as_json)

    with reporting.json_document(app.ui, "pull", as_json) as document:
        fleet = (
            app.invoke(None, None, bare=True)
            if rollback is not None
            else app.invoke(target, pod_file, jobs=jobs)
        )
        done = fleet.run(work, rest=follow_lock if mode.update_lock is not None else None)
        reporting.report(app.ui, document, done, None if as_json else _show_pull, lambda inv, r: r.verdict())


def _target_after_update_lock(
    target: str | None, pod_file: str | None, names: tuple[str, ...]
) -> tuple[str | None, tuple[str, ...]]:
    """`claw pull --update-lock claw-pod.yml`: click reads the word after the option as its
    NAME. A word that is a file or folder here, with no target given, is the target."""

    if target is not None or pod_file is not None:
        return target, names
    paths = [name for name in names if name != ALL_ENTRIES and os.path.exists(name)]
    if len(paths) != 1:
        return target, names
    return paths[0], tuple(ALL_ENTRIES if name == paths[0] else name for name in names)


def _show_pull(ui: Ui, report: Report) -> None:
    """A pull's results, then what the operator should know of its failures."""
    for result in report.results:
        for number, line in enumerate(result.lines()):
            ui.result(line, fg="red" if result.failed and number == 0 else None)
    if not report.results:
        ui.info("nothing to pull: no infra, registry images or runners for this target")
    for result in report.failed:
        if result.outcome is not None and result.outcome.log is not None:
            ui.info(f"{result.action.name}: full log in {result.outcome.log}")
    if report.lock_diff is not None:
        ui.result(report.lock_diff.rstrip("\n") if report.lock_diff else "claw.lock: no change")
    for hint in report.hints:
        ui.info(f"hint: {hint}")


@cli.command(context_settings=CONTEXT)
@click.argument("path", required=False)
@pod_option
@click.option("-t", "--tag", help="Image name for a single Clawfile build.")
@global_options()
@click.pass_obj
def build(app: App, path: str | None, pod_file: str | None, tag: str | None) -> None:
    """Build a Clawfile (PATH) or every `build:` service of a pod.

    PATH is a Clawfile or a directory holding one. Without PATH, the pod file
    here (claw-pod.yml) is built; without one, ./Clawfile. Runner aliases in
    FROM are rewritten to the version the runner base has now.
    """
    from .verbs import build as building

    def show(ui: Ui, built: list[building.Built]) -> None:
        for result in built:
            ui.result(result.line())

    fleet = app.invoke(path, pod_file, clawfile_fallback=True)
    reporting.report(app.ui, {}, fleet.run(lambda inv: building.run(inv, tag=tag)), show)


@cli.command(context_settings=CONTEXT)
@click.argument("pod", required=False)
@pod_option
@click.option("-d", "--detach", is_flag=True, help="Run the pod in the background.")
@click.option("--fix", is_flag=True, help="Pull, refresh and build what is missing, then start.")
@click.option("--check", is_flag=True, help="Run the readiness checks and the drift report only.")
@click.option(
    "--locked", is_flag=True, help="Refuse to start (exit 3) when an image does not match claw.lock."
)
@click.option("--json", "as_json", is_flag=True, help="With --check: one JSON document, per service.")
@global_options()
@click.pass_obj
def up(
    app: App,
    pod: str | None,
    pod_file: str | None,
    detach: bool,
    fix: bool,
    check: bool,
    locked: bool,
    as_json: bool,
) -> None:
    """Check readiness, report drift, then start the pod.

    Nothing is written or started unless every image the pod needs is here;
    otherwise claw names the one command to run and exits 3. With --check
    --json, each service's image, runner, base and drift as one document.
    """
    from .verbs import up as starting

    if as_json and not check:
        raise click.UsageError("--json goes with --check (a started pod prints compose's output)")

    def ready(inv: Invocation) -> starting.Readiness:
        readiness = starting.check(inv)
        if not readiness.ready and fix:
            _fix(inv, readiness)
            readiness = starting.check(inv)
        return readiness

    def verdict(inv: Invocation, readiness: starting.Readiness) -> ClawError | None:
        if not readiness.ready:
            return readiness.not_ready(inv.target)
        if locked and not readiness.locked:
            return NotReady(f"--locked: no lock file at {inv.lock_path}", hint="run: claw pull --update-lock")
        return readiness.not_locked(inv.target) if locked and readiness.unlocked else None

    if len(app.contexts) > 1 and not (detach or check):
        raise click.UsageError(
            "with several contexts, up needs -d or --check (one terminal cannot follow several pods)"
        )
    with reporting.json_document(app.ui, "up", as_json) as document:
        fleet = app.invoke(pod, pod_file)
        done = fleet.run(ready)
        passed = [
            (one.inv, one.value)
            for one in done
            if one.value is not None and reporting.verdict_error(one, verdict) is None
        ]
        for inv, readiness in passed:
            starting.hint_drift(inv, readiness)
        if check or len(passed) < len(done):
            show = None if as_json else lambda ui, found: ui.result(f"pod {found.pod.name}: ready")
            reporting.report(app.ui, document, done, show, verdict, show_failed=False)
            return
        ready_on = {inv.engine.name: readiness for inv, readiness in passed}

        def start(inv: Invocation) -> str | None:
            readiness = ready_on[inv.engine.name]
            file = starting.start(inv, readiness, detach=detach, on_log=app.ui.result)
            return f"pod {readiness.pod.name}: up ({file.name})" if detach else None

        reporting.report(
            app.ui, document, fleet.run(start), lambda ui, line: ui.result(line) if line else None
        )


def _fix(inv: Invocation, readiness: Any) -> None:
    """`up --fix`: what the remediations say, composed from the verbs themselves."""
    from .verbs import build as building
    from .verbs import pull as pulling

    wanted = readiness.to_pull()
    if wanted:
        report = pulling.run(inv, only=wanted)
        for result in report.results:
            inv.events.progress("--fix", result.line)
        if report.failed:
            reasons = "; ".join(r.line for r in report.failed)
            hint = report.hints[0] if report.hints else None
            raise ClawError(f"--fix could not pull everything: {reasons}", hint=hint)
    services = readiness.to_build()
    if services:
        for built in building.run(inv, only=services):
            inv.events.progress("--fix", built.line())


def _no_short_volumes(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """`claw down -v`: on every other verb -v says more; here it would delete data."""
    if value:
        raise click.UsageError(
            "down -v is ambiguous: use --volumes to also remove the pod's volumes, "
            "or --verbose to see docker's commands; nothing was stopped",
            ctx,
        )


@cli.command(context_settings=CONTEXT)
@click.argument("pod", required=False)
@pod_option
@click.option("--volumes", is_flag=True, help="Also remove the pod's volumes (never by default).")
@click.option("-v", "short_v", is_flag=True, hidden=True, expose_value=False, callback=_no_short_volumes)
@global_options(short_verbose=False)
@click.pass_obj
def down(app: App, pod: str | None, pod_file: str | None, volumes: bool) -> None:
    """Stop and remove the pod's containers (its volumes only with --volumes).

    -v is not short for --volumes here: `claw down -v` is refused, naming both
    --volumes and --verbose.
    """
    from .verbs import up as starting

    def show(ui: Ui, stopped: starting.Stopped) -> None:
        if not stopped.running and not volumes:
            ui.result(f"pod {stopped.pod.name}: not running")
        else:
            ui.result(f"pod {stopped.pod.name}: down" + (" (volumes removed)" if volumes else ""))

    fleet = app.invoke(pod, pod_file)
    reporting.report(app.ui, {}, fleet.run(lambda inv: starting.down(inv, volumes=volumes)), show)


def _usage_error(app: App, exc: click.ClickException, args: Sequence[str]) -> None:
    """click's own refusals said as claw says its errors (``error: ...``, lower case, the
    option named, then where the help is); with --json, also the one document on stdout."""
    message = exc.format_message().strip().rstrip(".")
    message = message.replace(". (Did you mean", " (did you mean").replace(". Did you mean", ": did you mean")
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    words = list(args[: args.index("--")] if "--" in args else args)
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.parent is not None:
        command: str | None = ctx.command.name
    else:  # refused while parsing the verb's options: click gives no context
        command = next((word for word in words if word in cli.commands), None)
    path = f"claw {command}" if command else "claw"
    if "--json" in words:
        reporting.print_refusal(app.ui, command, message, exc.exit_code)
    hint = f"see: {path} --help" if isinstance(exc, click.UsageError) else None
    app.ui.error(message if hint is None else f"{message}\n{hint}")


def main(argv: Sequence[str] | None = None) -> int:
    app = App()
    with lifecycle.installed():
        return _main(app, argv)


def _main(app: App, argv: Sequence[str] | None) -> int:
    try:
        args = list(argv) if argv is not None else None
        code = cli.main(args=args, prog_name="claw", standalone_mode=False, obj=app)
        return code if isinstance(code, int) else 0
    except click.ClickException as exc:
        _usage_error(app, exc, list(argv) if argv is not None else sys.argv[1:])
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt, Interrupted):
        app.stop()
        app.ui.error("interrupted")
        return EXIT_INTERRUPTED
    except ClawError as exc:
        app.ui.error(exc.render())
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        import traceback

        path = lifecycle.crash_log(traceback.format_exc())
        app.ui.error(f"unexpected error ({type(exc).__name__}: {exc}); details in {path}")
        return EXIT_FAILED
    finally:
        app.ui.done()  # no "still ..." line once the command is over


def entry_point() -> None:
    """The `claw` console script."""
    lifecycle.exit_quickly(main())
