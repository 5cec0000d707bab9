"""The click commands: parse options, build the invocations, run a verb on each engine and
hand what it returns to ``reporting``. Errors reach ``main`` and become one line and an
exit code (``EXIT_CODES``, from ``errors.py``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from . import __version__, errors, lifecycle, options, reporting
from .errors import ClawError, Interrupted, NotReady
from .options import CONTEXT
from .ui import Ui

if TYPE_CHECKING:
    from .invocation import Fleet, Invocation

# Heavy modules (sh, tenacity, yaml, tomlkit, json, the verbs) are imported
# inside the functions that need them: `claw --help` and `--version` stay fast
# (`make bench` measures it).

EXIT_CODES = (
    f"Exit status: 0 success, {errors.EXIT_FAILED} failed, {errors.EXIT_USAGE} bad input or usage, "
    f"{errors.EXIT_NOT_READY} something to do (up not ready, pull --check behind), "
    f"{errors.EXIT_INTERRUPTED} interrupted."
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
        if name in ("color", "verbose", "quiet"):
            settings = {"color": self.ui.color, "verbose": self.ui.verbose, "quiet": self.ui.quiet}
            self.ui = Ui(**{**settings, name: value})
        else:
            setattr(self, name, options.context_names(value) if name == "contexts" else value)

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
            else target.target_of(positional, pod_file, cwd, self.ui.detail, self.ui.warn)
        )
        if clawfile_fallback:
            where = invocation.fallback_clawfile(where, cwd)
        self.fleet = invocation.fleet(loaded, self.ui, where, self.contexts, jobs=jobs, lock=self.lock_path)
        return self.fleet

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
@options.shared(on_group=True)
@click.version_option(__version__, "--version", prog_name="claw")
@click.pass_obj
def cli(app: App) -> None:
    """Fresh, reproducible, traceable runner bases for AI-agent containers.

    With --context naming several docker contexts, pull and build work on the
    engines side by side and up and down run the pod on each; every line then
    starts with its engine's name, and the command fails if any engine failed.
    """


@cli.command(context_settings=CONTEXT)
@click.argument("target", required=False)
@options.pod_option
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
    f"(exit {errors.EXIT_NOT_READY} when something would). --dry-run asks nobody.",
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
    flag_value=options.ALL_ENTRIES,
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
@options.shared()
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
    target, names = options.update_lock_names(target, pod_file, update_lock)
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
        reporting.report(
            app.ui, document, done, None if as_json else reporting.show_pull, lambda inv, r: r.verdict()
        )


@cli.command(context_settings=CONTEXT)
@click.argument("path", required=False)
@options.pod_option
@click.option("-t", "--tag", help="Image name for a single Clawfile build.")
@options.shared()
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
@options.pod_option
@click.option("-d", "--detach", is_flag=True, help="Run the pod in the background.")
@click.option("--fix", is_flag=True, help="Pull, refresh and build what is missing, then start.")
@click.option("--check", is_flag=True, help="Run the readiness checks and the drift report only.")
@click.option(
    "--locked",
    is_flag=True,
    help=f"Refuse to start (exit {errors.EXIT_NOT_READY}) when an image does not match claw.lock.",
)
@click.option("--json", "as_json", is_flag=True, help="With --check: one JSON document, per service.")
@options.shared()
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
        passed = reporting.passed(done, verdict)
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


@cli.command(context_settings=CONTEXT)
@click.argument("pod", required=False)
@options.pod_option
@click.option("--volumes", is_flag=True, help="Also remove the pod's volumes (never by default).")
@options.no_short_volumes
@options.shared(short_verbose=False)
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
    """click's own refusal said as claw says its errors; with --json, also the one document
    on stdout."""
    command, message, words = options.refusal(exc, args, cli.commands)
    if "--json" in words:
        reporting.print_refusal(app.ui, command, message, exc.exit_code)
    path = f"claw {command}" if command else "claw"
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
        return errors.EXIT_INTERRUPTED
    except ClawError as exc:
        app.ui.error(exc.render())
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        import traceback

        path = lifecycle.crash_log(traceback.format_exc())
        app.ui.error(f"unexpected error ({type(exc).__name__}: {exc}); details in {path}")
        return errors.EXIT_FAILED
    finally:
        app.ui.done()  # no "still ..." line once the command is over


def entry_point() -> None:
    """The `claw` console script."""
    lifecycle.exit_quickly(main())
