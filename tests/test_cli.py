from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import types
from pathlib import Path

import click
import pytest

import claw
from lib import cli, lifecycle
from lib.engine.process import INSTALL_HINT
from lib.errors import ClawError, DockerError, InputError, NotReady, TransientError
from lib.events import retry_notice
from lib.ui import Ui, wants_color
from lib.verbs import up
from tests.conftest import NO_ENGINE, tally
from tests.harness.waiting import CHILD

ROOT = Path(__file__).resolve().parent.parent


def run_claw(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "claw.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_help_works_without_docker(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    result = run_claw("--help", env=env)
    assert result.returncode == 0, result.stderr
    for verb in ("pull", "build", "up", "down"):
        assert verb in result.stdout
    assert "CLAW_CONFIG" in result.stdout


def test_version() -> None:
    result = run_claw("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"claw, version {claw.__version__}")


def test_the_help_names_every_exit_status_of_the_error_family() -> None:
    def family(kind: type[ClawError]) -> list[type[ClawError]]:
        return [kind, *(deeper for sub in kind.__subclasses__() for deeper in family(sub))]

    said = {int(word) for word in re.findall(r"\b(\d+) [a-z]", cli.EXIT_CODES)}
    assert said == {0} | {kind.exit_code for kind in family(ClawError)}


@pytest.mark.parametrize("verb", ["pull", "build", "up", "down"])
def test_pod_file_twice_is_a_usage_error(verb: str) -> None:
    assert claw.main([verb, "-f", "a.yml", "b.yml"]) == 2


def test_unknown_option_is_a_usage_error() -> None:
    assert claw.main(["pull", "--bogus"]) == 2


@pytest.mark.parametrize(
    "extra", [["claw-pod.yml"], ["-f", "claw-pod.yml"], ["--check"], ["--rebuild"], ["--no-runners"]]
)
def test_rollback_with_a_target_check_or_rebuild_is_a_usage_error(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert claw.main(["pull", "--rollback", "openclaw", *extra]) == 2
    assert "--rollback goes with --dry-run and --json only" in capsys.readouterr().err


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and no config file: `claw up` here is bare."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CLAW_CONFIG", raising=False)
    return tmp_path


def up_raises(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """`claw up` fails with ``error`` wherever it is (the checks or the start)."""

    def boom(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(up, "check", boom)
    monkeypatch.setattr(up, "start", boom)


@pytest.mark.usefixtures("elsewhere")
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("Clawfile:7: duplicate CLAW_TYPE directive"), 2),
        (NotReady("not ready"), 3),
        (DockerError(("docker", "pull", "x"), 1, "", "manifest unknown\n"), 1),
        (ClawError("failed"), 1),
        (KeyboardInterrupt(), 130),
    ],
)
def test_errors_become_one_line_and_an_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: BaseException, code: int
) -> None:
    up_raises(monkeypatch, error)
    assert claw.main(["up"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.lstrip("\n").startswith("error: ")  # click ends the ^C line first
    assert err.strip().count("\n") == 0


@pytest.mark.usefixtures("elsewhere")
def test_docker_error_message_names_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    up_raises(
        monkeypatch,
        DockerError(("docker", "pull", "a b"), 1, "", "Error response from daemon: manifest unknown\n"),
    )
    claw.main(["up"])
    assert capsys.readouterr().err == (
        "error: `docker pull 'a b'` failed (exit 1): Error response from daemon: manifest unknown\n"
    )


@pytest.mark.usefixtures("elsewhere")
def test_unexpected_bug_prints_one_line_and_logs_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    up_raises(monkeypatch, ValueError("a bug"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert claw.main(["up"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: unexpected error (ValueError: a bug); details in ")
    log = Path(err.strip().rsplit(" ", 1)[1])
    assert log.parent == tmp_path / "claw"
    assert "Traceback" in log.read_text()
    assert "ValueError: a bug" in log.read_text()


def test_sigterm_is_an_interruption() -> None:
    with pytest.raises(KeyboardInterrupt):
        lifecycle.interrupt(15, None)


def _signalled(number: int, steps: list[str], *, shielded: bool) -> None:
    """A signal lands (inside the shield, or not); the steps taken after it."""
    with lifecycle.shielded() if shielded else contextlib.nullcontext():
        signal.raise_signal(number)
        steps.append("started")  # in claw: the child exists, and is known so it can be stopped
    steps.append("after")


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(("shielded", "steps"), [(True, ["started"]), (False, [])])
def test_an_interruption_that_lands_while_a_child_starts_is_raised_once_it_is_known(
    number: int, shielded: bool, steps: list[str]
) -> None:
    taken: list[str] = []
    with lifecycle.installed(), pytest.raises(KeyboardInterrupt):
        _signalled(number, taken, shielded=shielded)
    assert taken == steps


def test_verbose_echoes_docker_commands(tmp_path: Path) -> None:
    """claw echoes each docker command before it runs it: no engine is needed to see it."""
    (tmp_path / "claw-pod.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    env = {**os.environ, "DOCKER_HOST": NO_ENGINE, "XDG_STATE_HOME": str(tmp_path)}
    loud = run_claw("-v", "up", "--check", env=env, cwd=tmp_path)
    quiet = run_claw("up", "--check", env=env, cwd=tmp_path)
    echo = "$ docker image inspect --format '{{json .}}' nginx:1.27 "
    assert loud.returncode == 1, loud.stderr
    echoed = [line for line in loud.stderr.splitlines() if line.startswith("$ docker ")]
    assert echoed, loud.stderr
    assert echoed[0].startswith(echo), loud.stderr
    assert loud.stderr.splitlines()[-1].startswith("error: cannot reach the Docker engine")
    assert "$ docker" not in quiet.stderr


def test_quiet_hides_progress_but_not_errors(capsys: pytest.CaptureFixture[str]) -> None:
    app = cli.App(ui=Ui(quiet=True))
    app.ui.info("progress")
    app.ui.error("bad")
    assert capsys.readouterr().err == "error: bad\n"


def test_config_is_read_lazily_and_errors_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = cli.App(config_path=str(tmp_path / "missing.toml"))  # nothing is read yet
    with pytest.raises(InputError, match="missing.toml: config file not found"):
        app.invoke(None, None)  # the command's invocation reads it


class Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("choice", "tty", "env", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("always", False, {"NO_COLOR": "1"}, True),
        ("never", True, {}, False),
    ],
)
def test_colour_decision(choice: str, tty: bool, env: dict[str, str], expected: bool) -> None:
    assert wants_color(choice, Stream(tty), env) is expected  # type: ignore[arg-type]


def test_unit_tests_meet_a_docker_whose_engine_cannot_be_reached(no_engine_docker: Path) -> None:
    """So they pass on a host with no docker binary, and never reach a daemon on one with it."""
    assert shutil.which("docker") == str(no_engine_docker / "docker")


def test_global_options_are_accepted_after_the_verb(tmp_path: Path) -> None:
    (tmp_path / "claw-pod.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    after = run_claw("up", "--check", "-v", "--color", "never", env=env, cwd=tmp_path)
    assert after.returncode == 1, after.stderr  # the engine, not a usage error
    assert "$ docker image inspect --format '{{json .}}' nginx:1.27" in after.stderr
    quiet = run_claw("pull", "--no-runners", "-q", env=env, cwd=tmp_path)
    assert quiet.returncode == 1, quiet.stderr
    down = run_claw("down", "--help")
    assert "--volumes" in down.stdout
    assert "-v, --volumes" not in down.stdout
    assert "--verbose" in down.stdout
    assert "-v, --verbose" not in down.stdout


def test_global_options_reach_the_app_from_the_environment_the_group_and_after_the_verb(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLAW_CONFIG", "from-env.toml")
    monkeypatch.setenv("CLAW_CONTEXTS", "env-a")
    app = cli.App()
    argv = ["--lock", "x.lock", "--context", "a,b", "-q", "pull", "--context", "c", "--color", "never"]
    with pytest.raises(click.UsageError, match="do not go together"):  # before any work
        cli.cli.main([*argv, "--check", "--rebuild"], prog_name="claw", standalone_mode=False, obj=app)
    said = (app.config_path, app.lock_path, app.contexts, app.ui.quiet, app.ui.color, app.ui.verbose)
    assert said == ("from-env.toml", "x.lock", ("c",), True, "never", False)


def test_json_prints_one_document_on_failure_too(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    result = run_claw("pull", "--no-runners", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert (document["command"], document["ok"], document["actions"]) == ("pull", False, [])
    assert document["error"]["exit"] == 1
    assert document["error"]["message"].startswith("cannot reach the Docker engine (DOCKER_HOST=")
    assert result.stderr.startswith("error: cannot reach the Docker engine")


def test_quiet_hides_warnings_and_retry_notices() -> None:
    err = io.StringIO()
    ui = Ui(quiet=True, err=err)
    retry_notice(ui, "web")(TransientError(("docker", "pull", "x"), 1, "", "i/o timeout"), 1, 2.0)
    ui.warn("something")
    ui.progress("web", "pulling")
    assert err.getvalue() == ""
    ui.error("it failed")
    assert err.getvalue() == "error: it failed\n"


def test_color_always_colours_only_what_it_styles() -> None:
    out = io.StringIO()
    ui = Ui(color="always", out=out)
    ui.result("plain")
    assert out.getvalue() == "plain\n"
    ui.result("failed", fg="red")
    assert out.getvalue().endswith("\x1b[31mfailed\x1b[0m\n")


# --------------------------------------------------------------------------
# No docker, no engine: one line, exit 1, for every verb
# --------------------------------------------------------------------------


@pytest.fixture
def pod_dir(tmp_path: Path) -> Path:
    (tmp_path / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    (tmp_path / "claw-pod.yml").write_text("services:\n  agent:\n    build: .\n")
    (tmp_path / "compose.generated.yml").write_text("services: {}\n")
    return tmp_path


VERBS = [["pull"], ["pull", "Clawfile"], ["build"], ["build", "Clawfile"], ["up", "--check"], ["up"]]


@pytest.mark.parametrize("args", [*VERBS, ["down"]], ids=" ".join)
def test_docker_missing_from_path(pod_dir: Path, args: list[str]) -> None:
    env = {"PATH": str(pod_dir / "no-bin"), "HOME": str(pod_dir), "XDG_STATE_HOME": str(pod_dir)}
    result = run_claw(*args, env=env, cwd=pod_dir)
    tally("engine faults")
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "error: `docker` was not found on PATH",
        INSTALL_HINT,
    ]


@pytest.mark.parametrize("args", [*VERBS, ["down"]], ids=" ".join)
def test_engine_unreachable(pod_dir: Path, args: list[str]) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", "XDG_STATE_HOME": str(pod_dir)}
    result = run_claw(*args, env=env, cwd=pod_dir)
    tally("engine faults")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "error: cannot reach the Docker engine (DOCKER_HOST=unix:///nonexistent/docker.sock): "
    )


def test_verbose_names_the_pod_keys_claw_leaves_alone(tmp_path: Path) -> None:
    (tmp_path / "claw-pod.yml").write_text(
        "x-claw: {pod: p, agent: a}\nservices:\n  web:\n    image: nginx\n"
    )
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", "XDG_STATE_HOME": str(tmp_path)}
    quiet = run_claw("up", "--check", env=env, cwd=tmp_path)
    loud = run_claw("-v", "up", "--check", env=env, cwd=tmp_path)
    line = "claw-pod.yml: x-claw.agent: accepted, not acted on by claw"
    assert line not in quiet.stderr
    assert line in loud.stderr.splitlines()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "opnclaw",
            "--rollback: no runner 'opnclaw' (known: microclaw, nanobot, nanoclaw, nanoclaw-orchestrator,",
        ),
        ("openclaw:latest", "TAG must be a version tag of the runner"),
        ("openclaw:", "TAG must be a version tag of the runner"),
    ],
)
def test_rollback_of_an_unknown_runner_or_a_bad_tag_is_bad_input(
    elsewhere: Path, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert claw.main(["pull", "--rollback", spec]) == 2
    assert message in capsys.readouterr().err


def test_an_engines_ui_prefixes_every_line_and_shares_the_screen() -> None:
    out, err = io.StringIO(), io.StringIO()
    ui = Ui(color="never", out=out, err=err)
    engine = ui.for_engine("host-b")
    assert ui.for_engine("") is ui
    engine.result("pod p is not ready:\n  agent: missing")
    engine.warn("slow")
    engine.progress("openclaw", "building")
    ui.result("plain")
    assert out.getvalue() == "[host-b] pod p is not ready:\n[host-b]   agent: missing\nplain\n"
    assert err.getvalue() == "[host-b] warning: slow\n[host-b] openclaw: building\n"
    assert engine._screen is ui._screen


FINALIZER_INTERRUPTED = """
import sys, threading, weakref
from lib import lifecycle
class Thing: pass
def callback(_):
    raise KeyboardInterrupt  # a Ctrl-C that lands while a weakref callback runs
with lifecycle.installed():
    thing = Thing(); watch = weakref.ref(thing, callback)
    try:
        del thing
        while others := [t for t in threading.enumerate() if t is not threading.current_thread()]:
            for other in others:  # whatever delivers it again, once it has done so
                other.join(60)
        print("lost")
    except KeyboardInterrupt:
        print("delivered")
"""


def test_a_ctrl_c_delivered_again_that_lands_in_the_hook_itself_is_delivered_later_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a busy machine the second delivery can land before the hook has returned: raised
    there it would be lost again, so it is put off once more."""
    scheduled: list[str] = []

    def deliver_later() -> None:
        scheduled.append("later")
        if len(scheduled) == 1:  # the delivery lands while the hook still runs
            lifecycle.interrupt(signal.SIGINT, sys._getframe(1))

    monkeypatch.setattr(lifecycle, "deliver_later", deliver_later)
    lifecycle.unraisable(types.SimpleNamespace(exc_type=KeyboardInterrupt))
    assert scheduled == ["later", "later"]
    with pytest.raises(KeyboardInterrupt):  # anywhere else, it is raised
        lifecycle.interrupt(signal.SIGINT, sys._getframe())


def test_a_ctrl_c_that_lands_in_a_finalizer_is_delivered_again() -> None:
    """Python cannot raise it there: it would print 'Exception ignored' and go on."""
    done = subprocess.run(
        [sys.executable, "-c", FINALIZER_INTERRUPTED], cwd=ROOT, capture_output=True, text=True, timeout=CHILD
    )
    assert (done.stdout, done.stderr) == ("delivered\n", "")
