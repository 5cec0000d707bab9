#!/usr/bin/env python3
"""claw: keep the runner bases of AI-agent containers fresh, reproducible and traceable.

Each verb parses its options, calls one function in ``lib/`` and prints what
it returns. Errors reach ``main`` and become one line and an exit code:
0 success, 1 an operation failed, 2 bad input or usage, 3 `up` not ready,
130 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lib import __version__
from lib.errors import EXIT_FAILED, EXIT_INTERRUPTED, ClawError, Interrupted
from lib.ui import Ui

if TYPE_CHECKING:
    from lib.config import Config

# Heavy modules (sh, tenacity, yaml, tomlkit, json, the verbs' own modules) are
# imported inside the functions that need them: `claw --help` and `--version`
# stay fast (`make bench` measures it).

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXIT_CODES = "Exit status: 0 success, 1 failed, 2 bad input or usage, 3 not ready (up), 130 interrupted."


class App:
    """What the global options decide, handed to every verb."""

    def __init__(self, ui: Ui | None = None, config_path: str | None = None) -> None:
        self.ui = ui or Ui()
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        """The config file, read on first use."""
        if self._config is None:
            from lib import config

            self._config = config.load(self.config_path)
        return self._config


F = TypeVar("F", bound=Callable[..., Any])


def pod_option(function: F) -> F:
    return click.option(
        "-f", "--file", "pod_file", type=click.Path(dir_okay=False), help="Pod file (claw-pod.yml)."
    )(function)


def one_pod_file(option: str | None, positional: str | None) -> str | None:
    if option and positional:
        raise click.UsageError("give the pod file either with -f or as an argument, not both")
    return option or positional


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
@click.option(
    "--config",
    "config_path",
    envvar="CLAW_CONFIG",
    show_envvar=True,
    type=click.Path(dir_okay=False),
    help="Config file (default: $XDG_CONFIG_HOME/claw/config.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Echo every docker command as `$ docker ...`.")
@click.option("-q", "--quiet", is_flag=True, help="Print results and errors only.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour output (auto: on a terminal, unless NO_COLOR is set).",
)
@click.version_option(__version__, "--version", prog_name="claw")
@click.pass_obj
def cli(app: App, config_path: str | None, verbose: bool, quiet: bool, color: str) -> None:
    """Fresh, reproducible, traceable runner bases for AI-agent containers."""
    app.ui = Ui(color=color, verbose=verbose, quiet=quiet)
    app.config_path = config_path
    if verbose:
        from lib import docker

        docker.settings.echo = app.ui.detail


@cli.command(context_settings=CONTEXT)
@click.argument("target", required=False)
@pod_option
@click.option("--no-runners", is_flag=True, help="Do not refresh runner bases.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Pulls and refreshes in flight at once (default: [pull] jobs, 2).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document of actions and outcomes.")
@click.pass_obj
def pull(
    app: App,
    target: str | None,
    pod_file: str | None,
    no_runners: bool,
    jobs: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Pull pinned infra and registry images; refresh runner bases.

    TARGET is a pod file, a Clawfile, or a directory holding a Clawfile. With
    none, the pod file here (claw-pod.yml) is used; without one, every runner
    base present on this host is refreshed and the full pinned infra pulled.
    """
    from lib import pull as pulling
    from lib import target as targets

    one_pod_file(pod_file, target)
    where = targets.resolve(target, pod_file, Path.cwd())
    report = pulling.run(where, app.config, app.ui, no_runners=no_runners, jobs=jobs, dry_run=dry_run)
    if as_json:
        import json

        app.ui.result(json.dumps(report.to_json(), indent=2))
    else:
        for result in report.results:
            app.ui.result(result.line, fg="red" if result.failed else None)
        if not report.results:
            app.ui.info("nothing to pull: no infra, registry images or runners for this target")
    for result in report.failed:
        if result.outcome is not None and result.outcome.log is not None:
            app.ui.info(f"{result.action.name}: full log in {result.outcome.log}")
    for hint in report.hints:
        app.ui.info(f"hint: {hint}")
    if report.failed:
        raise ClawError(f"{len(report.failed)} of {len(report.results)} pull actions did not succeed")


@cli.command(context_settings=CONTEXT)
@click.argument("path", required=False)
@pod_option
@click.option("-t", "--tag", help="Image name for a single Clawfile build.")
@click.pass_obj
def build(app: App, path: str | None, pod_file: str | None, tag: str | None) -> None:
    """Build a Clawfile (PATH) or every `build:` service of a pod.

    PATH is a Clawfile or a directory holding one. Without PATH, the pod file
    here (claw-pod.yml) is built; without one, ./Clawfile. Runner aliases in
    FROM are rewritten to the version the runner base has now.
    """
    from lib import build as building
    from lib import target as targets

    one_pod_file(pod_file, path)
    built = building.run(targets.resolve(path, pod_file, Path.cwd()), app.config, app.ui, tag=tag)
    for result in built:
        app.ui.result(result.line())


@cli.command(context_settings=CONTEXT)
@click.argument("pod", required=False)
@pod_option
@click.option("-d", "--detach", is_flag=True, help="Run the pod in the background.")
@click.option("--fix", is_flag=True, help="Pull, refresh and build what is missing, then start.")
@click.option("--check", is_flag=True, help="Run the readiness checks and the drift report only.")
@click.pass_obj
def up(app: App, pod: str | None, pod_file: str | None, detach: bool, fix: bool, check: bool) -> None:
    """Check readiness, report drift, then start the pod.

    Nothing is written or started unless every image the pod needs is here;
    otherwise claw names the one command to run and exits 3.
    """
    from lib import target as targets
    from lib import up as starting

    one_pod_file(pod_file, pod)
    started = starting.up(
        targets.resolve(pod, pod_file, Path.cwd()),
        app.config,
        app.ui,
        detach=detach,
        fix_first=fix,
        check_only=check,
        on_log=app.ui.result,
    )
    if started.file is None:
        app.ui.result(f"pod {started.pod.name}: ready")
    elif detach:
        app.ui.result(f"pod {started.pod.name}: up ({started.file.name})")


@cli.command(context_settings=CONTEXT)
@click.argument("pod", required=False)
@pod_option
@click.option("-v", "--volumes", is_flag=True, help="Also remove the pod's volumes.")
@click.pass_obj
def down(app: App, pod: str | None, pod_file: str | None, volumes: bool) -> None:
    """Stop and remove the pod's containers (its volumes only with -v)."""
    from lib import target as targets
    from lib import up as starting

    one_pod_file(pod_file, pod)
    stopped = starting.down(targets.resolve(pod, pod_file, Path.cwd()), app.ui, volumes=volumes)
    app.ui.result(f"pod {stopped.name}: down" + (" (volumes removed)" if volumes else ""))


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def crash_log(text: str) -> Path:
    """Write a traceback where an operator can find it; return the path."""
    import datetime
    import tempfile

    from lib.files import state_dir

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    name = f"crash-{stamp}-{os.getpid()}.log"
    for directory in (state_dir(), Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text, encoding="utf-8")
            return directory / name
        except OSError:
            continue
    return Path(tempfile.gettempdir()) / name


def main(argv: Sequence[str] | None = None) -> int:
    app = App()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = list(argv) if argv is not None else None
        code = cli.main(args=args, prog_name="claw", standalone_mode=False, obj=app)
        return code if isinstance(code, int) else 0
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt, Interrupted):
        _stop_docker_children()
        app.ui.error("interrupted")
        return EXIT_INTERRUPTED
    except ClawError as exc:
        app.ui.error(exc.render())
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        import traceback

        path = crash_log(traceback.format_exc())
        app.ui.error(f"unexpected error ({type(exc).__name__}: {exc}); details in {path}")
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_docker_children() -> None:
    if "lib.docker" in sys.modules:
        sys.modules["lib.docker"].terminate_all()


def entry_point() -> None:
    """The `claw` console script."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
