"""The slips a new operator makes, and what claw says back (issue 26)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

import claw
from lib.ui import Ui
from lib.verbs import up
from tests.harness.fake_docker import FakeDocker


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and no config file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("CLAW_CONFIG", raising=False)
    return tmp_path


# -- 1. `claw down -v` ---------------------------------------------------------


@pytest.mark.parametrize("args", [["down", "-v"], ["down", "-f", "claw-pod.yml", "-v"], ["down", "-qv"]])
def test_down_v_is_a_usage_error_that_stops_nothing(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    (here / "claw-pod.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    calls: list[object] = []
    monkeypatch.setattr(up, "down", lambda *a, **k: calls.append((a, k)))
    assert claw.main(args) == 2
    err = capsys.readouterr().err
    assert "--volumes" in err
    assert "--verbose" in err
    assert calls == []


def test_down_takes_volumes_long_and_verbose_long(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "claw-pod.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    seen: list[bool] = []

    def down(inv: object, *, volumes: bool = False) -> up.Stopped:
        seen.append(volumes)
        return up.Stopped(inv.pod_target().pod, True)  # type: ignore[attr-defined]

    monkeypatch.setattr(up, "down", down)
    assert claw.main(["down", "--volumes", "--verbose"]) == 0
    assert claw.main(["-v", "down"]) == 0  # before the verb, -v is verbose as everywhere
    assert seen == [True, False]


# -- 6. exit 3 means "something to do" ----------------------------------------


def test_help_says_exit_3_is_something_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert claw.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "3 something to do (up not ready, pull --check behind)" in out
    assert "3 not ready (up)" not in out


# -- 8. --dry-run against --check ---------------------------------------------


def _option_help(capsys: pytest.CaptureFixture[str], verb: str, option: str) -> str:
    """The help text of one option of a verb, on one line."""
    assert claw.main([verb, "--help"]) == 0
    lines = capsys.readouterr().out.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option + " "))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("-"))
    return " ".join(" ".join(lines[start:end]).split())


def test_pull_dry_run_and_check_say_what_they_do_and_point_to_each_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dry = _option_help(capsys, "pull", "--dry-run")
    check = _option_help(capsys, "pull", "--check")
    assert "without asking anyone" in dry
    assert "would ask upstream, then refresh if something moved" in dry
    assert "--check" in dry
    assert "Ask upstream" in check
    assert "--dry-run" in check


# -- 2. up names the one command that fixes everything it found ---------------


@pytest.mark.parametrize(
    ("gone", "fix"),
    [
        (["nginx:1.27"], "claw pull -f pods/claw-pod.yml"),
        (["claw-local/team-analyst:latest"], "claw build -f pods/claw-pod.yml"),
        (["nginx:1.27", "claw-local/team-analyst:latest"], "claw up --fix -f pods/claw-pod.yml"),
        (["claw-local/team-analyst:latest", "openclaw:latest"], "claw up --fix -f pods/claw-pod.yml"),
    ],
)
def test_up_names_up_fix_when_it_takes_a_pull_and_a_build(tmp_path: Path, gone: list[str], fix: str) -> None:
    from lib import target
    from tests.harness.model import Model
    from tests.test_up import POD, all_present, check

    (tmp_path / "analyst").mkdir()
    (tmp_path / "analyst" / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    the_pod = tmp_path / "claw-pod.yml"
    the_pod.write_text(POD)
    images = all_present()
    for ref in gone:
        del images[ref]
    readiness = check(the_pod, Model(images))
    where = target.PodTarget(Path("pods/claw-pod.yml"), True, readiness.pod)
    assert readiness.not_ready(where).hint == f"run: {fix}"


# -- 7. --json and usage errors -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "command", "shape", "named"),
    [
        (["pull", "--jobs", "0", "--json"], "pull", "actions", "'--jobs': 0"),
        (["pull", "--json", "--check", "--rebuild"], "pull", "actions", "--check, --rebuild"),
        (["up", "--json", "--bogus"], "up", "services", "'--bogus'"),
        (["pull", "--json", "--rollback"], "pull", "actions", "'--rollback'"),
    ],
)
def test_a_usage_error_under_json_is_one_document(
    here: Path, capsys: pytest.CaptureFixture[str], args: list[str], command: str, shape: str, named: str
) -> None:
    import json

    assert claw.main(args) == 2
    out, err = capsys.readouterr()
    document = json.loads(out)  # exactly one document, nothing else on stdout
    assert document["command"] == command
    assert document["ok"] is False
    assert document[shape] == []
    assert document["error"]["exit"] == 2
    assert named in document["error"]["message"]
    assert err.startswith(f"error: {document['error']['message']}\n")


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (["pull", "--jobs", "0"], "error: invalid value for '--jobs': 0 is not in the range x>=1"),
        (["pull", "--bogus"], "error: no such option '--bogus'"),
        (["pull", "--rollback"], "error: option '--rollback' requires an argument"),
        (["bogus"], "error: no such command 'bogus'"),
    ],
)
def test_clicks_usage_messages_read_like_claws(
    here: Path, capsys: pytest.CaptureFixture[str], args: list[str], first: str
) -> None:
    assert claw.main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no --json: nothing on stdout
    lines = err.splitlines()
    assert lines[0].startswith(first)
    assert not lines[0].endswith(".")
    assert lines[1:] == [f"see: claw {args[0]} --help" if args[0] != "bogus" else "see: claw --help"]
    assert "Usage:" not in err


# -- 9. pod slips -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("services:\n  web:\n    image: [nginx\n", 3),  # ends inside a flow sequence
        ("services:\n  web:\n    image: [nginx", 3),  # the same without a final newline
        ('services:\n  web:\n    image: "nginx\n', 3),  # an unclosed quote
        ("services:\n  web: {image: nginx\n\n\n", 2),  # blank lines after the slip
    ],
)
def test_a_yaml_error_at_the_end_names_a_line_of_the_file(text: str, line: int) -> None:
    from lib import pod
    from lib.errors import InputError

    with pytest.raises(InputError) as raised:
        pod.parse(text, Path("claw-pod.yml"))
    assert raised.value.message.startswith(f"claw-pod.yml:{line}: invalid YAML: ")
    assert line <= len(text.rstrip("\n").split("\n"))


@pytest.mark.parametrize("key", ["x-clw", "x_claw", "X-Claw", "x-claws", "xclaw"])
def test_a_near_miss_of_x_claw_warns_with_the_suggestion(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    (here / "claw-pod.yml").write_text(
        f"x-common: &c {{labels: {{a: b}}}}\n{key}: {{pod: team}}\nservices:\n  web:\n    image: nginx:1.27\n"
    )
    monkeypatch.setattr(up, "down", lambda inv, **k: up.Stopped(inv.pod_target().pod, False))
    assert claw.main(["down"]) == 0
    err = capsys.readouterr().err
    assert (
        f"warning: claw-pod.yml:2: top-level key {key!r} is not read by claw: did you mean 'x-claw'?" in err
    )
    assert "x-common" not in err
    assert claw.main(["down", "-q"]) == 0
    assert "x-claw" not in capsys.readouterr().err


def test_x_claw_itself_and_other_extensions_do_not_warn(here: Path) -> None:
    from lib import pod

    text = "x-claw: {pod: team}\nx-common: {}\nx-defaults: {}\nservices:\n  web:\n    image: nginx\n"
    assert pod.parse(text, Path("claw-pod.yml")).slips == ()


# -- 12d. the labels go to the stage that is built ----------------------------

TWO_STAGES = (
    "FROM openclaw AS Agent\nCLAW_TYPE openclaw\nMODEL primary x/y\nRUN true\n# end of agent\n\n"
    "FROM agent AS extra\nRUN touch /extra\n"
)


def _stage_of_label(emitted: str) -> str:
    """The name of the stage the LABEL instruction is in."""
    stage = ""
    for line in emitted.splitlines():
        if line.startswith("FROM "):
            stage = line.split()[-1]
        if line.startswith("LABEL "):
            return stage
    raise AssertionError(f"no LABEL in {emitted!r}")


@pytest.mark.parametrize(
    ("target", "stage"), [("agent", "Agent"), ("AGENT", "Agent"), ("extra", "extra"), (None, "extra")]
)
def test_the_labels_are_appended_to_the_target_stage(target: str | None, stage: str) -> None:
    from lib import clawfile

    parsed = clawfile.parse(TWO_STAGES)
    emitted = clawfile.emit(parsed, target=target)
    assert _stage_of_label(emitted) == stage
    assert emitted.count("LABEL ") == 1
    lines = clawfile.source_lines(parsed, target=target)
    assert len(lines) == len(emitted.splitlines())
    for text, origin in zip(emitted.splitlines(), lines, strict=True):
        if origin is not None:  # every other line is said of the Clawfile line it came from
            assert TWO_STAGES.split("\n")[origin - 1] == text


def test_a_pod_build_writes_the_labels_into_its_target_stage(tmp_path: Path) -> None:
    from lib import target
    from lib.verbs import build
    from tests.harness.invocations import invocation
    from tests.harness.model import Model

    (tmp_path / "Clawfile").write_text(TWO_STAGES)
    (tmp_path / "claw-pod.yml").write_text("services:\n  agent:\n    build: {context: ., target: agent}\n")
    host = Model()
    host.add("openclaw:v0.5.2", "openclaw:latest")
    build.run(invocation(target.target_of(None, str(tmp_path / "claw-pod.yml"), tmp_path), host))
    assert _stage_of_label((tmp_path / "Dockerfile.generated").read_text()) == "Agent"


# -- 4. a Clawfile slip caught by claw ----------------------------------------


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("FROM opencalw:latest\nCLAW_TYPE openclaw\n", "Clawfile:1: FROM opencalw:latest: did you mean openclaw?"),
        ("FROM node:22 AS deps\nFROM nanoclaw\nCLAW_TYPE nanoclaw\n", "Clawfile:2: FROM nanoclaw: did you mean nanoclaw-orchestrator?"),
        ("FROM node:22\nFROM openclw AS app\nCLAW_TYPE openclaw\n", "Clawfile:2: FROM openclw: did you mean openclaw?"),
    ],
)  # fmt: skip
def test_a_from_that_misses_the_runner_alias_is_bad_input_before_docker(
    here: Path, capsys: pytest.CaptureFixture[str], source: str, said: str
) -> None:
    (here / "Clawfile").write_text(source)
    assert claw.main(["build", "."]) == 2  # the engine is unreachable here: docker was not asked
    assert capsys.readouterr().err.startswith(f"error: {said}")


@pytest.mark.parametrize(
    "source",
    [
        "FROM openclaw:latest\nCLAW_TYPE openclaw\n",
        "FROM node:22\nCLAW_TYPE openclaw\n",  # no runner base: a plain build, no slip
        "FROM ghcr.io/acme/opencalw:1\nCLAW_TYPE openclaw\n",  # a registry's image, as written
        "FROM openclaw AS opencalw\nFROM opencalw\nCLAW_TYPE openclaw\n",  # a stage
        "FROM nanoclaw-orchestrator AS nanoclaw\nFROM nanoclaw\nCLAW_TYPE nanoclaw\n",
    ],
)
def test_a_from_that_is_meant_is_no_slip(source: str) -> None:
    from lib import clawfile, runners

    parsed = clawfile.parse(source)
    table = runners.builtin()
    assert clawfile.from_slip(parsed, table[parsed.claw_type].alias) is None


def test_up_check_reports_a_from_slip_as_a_finding(tmp_path: Path) -> None:
    from lib import target
    from tests.harness.model import Model
    from tests.test_up import POD, all_present, check

    (tmp_path / "analyst").mkdir()
    (tmp_path / "analyst" / "Clawfile").write_text("FROM opencalw\nCLAW_TYPE openclaw\n")
    (tmp_path / "claw-pod.yml").write_text(POD)
    images = all_present()
    del images["claw-local/team-analyst:latest"]
    readiness = check(tmp_path / "claw-pod.yml", Model(images))
    (problem,) = readiness.problems
    assert (problem.subject, problem.fix) == ("analyst", "edit")
    assert "FROM opencalw: did you mean openclaw?" in problem.text
    assert readiness.to_build() == set()
    error = readiness.not_ready(target.PodTarget(tmp_path / "claw-pod.yml", False, readiness.pod))
    assert error.exit_code == 3
    assert error.hint == "fix the Clawfile as said, then run: claw build"


@pytest.mark.parametrize(
    ("args", "pod"), [(["build", "."], False), (["up", "--check"], True), (["pull", "--check"], True),
                      (["pull", "--check", "Clawfile"], False), (["build"], True)],
)  # fmt: skip
def test_an_unknown_instruction_is_bad_input_when_the_clawfile_is_read(
    here: Path, capsys: pytest.CaptureFixture[str], args: list[str], pod: bool
) -> None:
    (here / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\nMODLE primary openai/gpt-4o\n")
    if pod:
        (here / "claw-pod.yml").write_text("services:\n  agent:\n    build: .\n")
    assert claw.main(args) == 2
    err = capsys.readouterr().err
    assert "Clawfile:3: unknown instruction MODLE (did you mean MODEL?)" in err


# -- 3. the drift hint after a rollback ---------------------------------------


def test_after_a_rollback_the_hint_says_latest_went_back_and_what_the_service_has_beyond_it(
    tmp_path: Path,
) -> None:
    """The service was built on v2026.5.24; latest was rolled back to v2026.5.22. Nothing
    moved upstream: latest went back, and what moved reads older → newer."""
    import dataclasses

    from lib.engine.docker import Image
    from tests.harness.model import Model
    from tests.test_up import BASE_NEW, BASE_OLD, POD, check, service_image, with_records

    (tmp_path / "analyst").mkdir()
    (tmp_path / "analyst" / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    (tmp_path / "claw-pod.yml").write_text(POD)
    newer = service_image(BASE_NEW, "openclaw:v2026.5.24")
    newer = with_records(newer, "npm:openclaw@2026.5.24", "b")
    newer = dataclasses.replace(
        newer, labels={**newer.labels, "claw.base.refreshed-at": "2026-05-24T10:00:00Z"}
    )
    latest = with_records(
        Image(BASE_OLD, ("openclaw:latest", "openclaw:v2026.5.22")), "npm:openclaw@2026.5.22", "a"
    )
    from lib import infra

    pins = infra.defaults()
    images = {
        "claw-local/team-analyst:latest": newer,
        "nginx:1.27": Image("sha256:n", ("nginx:1.27",)),
        pins["cllama"]: Image("sha256:c", ()),
        pins["clawdash"]: Image("sha256:d", ()),
        "openclaw:latest": latest,
    }
    (drift,) = check(tmp_path / "claw-pod.yml", Model(images)).drift
    assert drift.line("claw build") == (
        "analyst: openclaw:latest was rolled back to v2026.5.22 from v2026.5.24, the base this service "
        "was built on (image 222222222222, now image 111111111111: npm:openclaw 2026.5.22 → 2026.5.24; "
        "node:22-slim moved); consider running: claw build"
    )


# -- 10. long steps in a log --------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def logged(quiet: bool = False, tty: bool = False) -> tuple[Ui, Clock, io.StringIO]:
    class Err(io.StringIO):
        def isatty(self) -> bool:
            return tty

    clock, err = Clock(), Err()
    return Ui(color="never", quiet=quiet, out=io.StringIO(), err=err, clock=clock, ticking=False), clock, err


def still_lines(err: io.StringIO) -> list[str]:
    return [line for line in err.getvalue().splitlines() if "still" in line]


@pytest.mark.parametrize(
    ("outputs", "step"),
    [
        (["Step 1/7 : FROM x", "Step 4/7 : RUN make"], ", step 4/7"),  # the legacy builder
        (["#5 [2/7] RUN true", "#6 [build 4/7] RUN make", "#6 0.512 compiling"], ", step 4/7"),  # BuildKit
        ([], ""),
    ],
)
def test_a_long_build_in_a_pipe_says_it_goes_on_every_30_seconds(outputs: list[str], step: str) -> None:
    ui, clock, err = logged()
    ui.progress("openclaw", "building from openclaw.Dockerfile")
    for line in outputs:
        ui.output("openclaw", line)
    clock.now += 29
    ui.tick()
    assert still_lines(err) == []
    clock.now += 1
    ui.tick()
    ui.tick()  # once per interval, however often it is asked
    clock.now += 60
    ui.tick()
    assert still_lines(err) == [
        f"openclaw: still building (30s{step})",
        f"openclaw: still building (1m30s{step})",
    ]


WEB = ["web: still pulling (45s)"]


@pytest.mark.parametrize(
    ("end", "left"),
    [
        (lambda ui: ui.output("openclaw", "Successfully built 0123456789ab"), WEB),
        (lambda ui: ui.output("openclaw", "#9 writing image sha256:0123 done"), WEB),
        (lambda ui: ui.progress("openclaw", "probing the version: openclaw --version"), WEB),
        (lambda ui: ui.result("openclaw: refreshed"), []),  # results come once all is done
    ],
)
def test_a_step_that_ended_says_nothing_more(end: Callable[[Ui], None], left: list[str]) -> None:
    ui, clock, err = logged()
    ui.progress("openclaw", "building from openclaw.Dockerfile")
    ui.progress("web", "pulling nginx:1.27")
    end(ui)
    clock.now += 45
    ui.tick()
    assert still_lines(err) == left


@pytest.mark.parametrize(("quiet", "tty"), [(True, False), (False, True)])
def test_quiet_or_a_terminal_gets_no_still_lines(quiet: bool, tty: bool) -> None:
    ui, clock, err = logged(quiet=quiet, tty=tty)
    ui.progress("openclaw", "building from openclaw.Dockerfile")
    clock.now += 300
    ui.tick()
    assert still_lines(err) == []


def test_each_engine_says_its_own_long_steps() -> None:
    ui, clock, err = logged()
    ui.for_engine("host-a").progress("openclaw", "building from openclaw.Dockerfile")
    ui.for_engine("host-b").progress("openclaw", "building from openclaw.Dockerfile")
    ui.for_engine("host-b").output("openclaw", "Step 2/3 : RUN make")
    clock.now += 30
    ui.tick()
    assert still_lines(err) == [
        "[host-a] openclaw: still building (30s)",
        "[host-b] openclaw: still building (30s, step 2/3)",
    ]


# -- 12f. compose v1 on a named context ---------------------------------------


def inspected(host: str, material: list[str] | None = None, skip: bool = False) -> dict[str, object]:
    """What `docker context inspect --format '{{json .}}'` says of a context."""
    return {
        "Name": "far",
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
        "TLSMaterial": {"docker": material} if material else {},
        "Storage": {"MetadataPath": "/cfg/contexts/meta/x", "TLSPath": "/cfg/contexts/tls/x"},
    }


PEMS = ["ca.pem", "cert.pem", "key.pem"]
AROUND = {"PATH": "/bin", "DOCKER_HOST": "unix:///elsewhere.sock", "DOCKER_CONTEXT": "other",
          "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/old"}  # fmt: skip


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (inspected("unix:///run/far.sock"), {"PATH": "/bin", "DOCKER_HOST": "unix:///run/far.sock"}),
        (inspected("ssh://root@far:22"), {"PATH": "/bin", "DOCKER_HOST": "ssh://root@far:22"}),
        (
            inspected("tcp://far:2376", PEMS),
            {"PATH": "/bin", "DOCKER_HOST": "tcp://far:2376", "DOCKER_TLS_VERIFY": "1",
             "DOCKER_CERT_PATH": "/cfg/contexts/tls/x/docker"},
        ),
        (
            inspected("tcp://far:2376", PEMS, skip=True),
            {"PATH": "/bin", "DOCKER_HOST": "tcp://far:2376", "DOCKER_CERT_PATH": "/cfg/contexts/tls/x/docker"},
        ),
    ],
)  # fmt: skip
def test_a_context_compose_v1_can_drive_is_said_as_docker_host(
    context: dict[str, object], expected: dict[str, str]
) -> None:
    from lib.engine.argv import context_environment

    assert context_environment(context, AROUND) == expected


@pytest.mark.parametrize(
    ("context", "why"),
    [
        (inspected(""), "names no docker endpoint"),
        (inspected("tcp://far:2376", ["ca.pem"]), "only part of its TLS material (ca.pem)"),
        (inspected("tcp://far:2376", skip=True), "TLS without verification and no certificates"),
    ],
)
def test_a_context_compose_v1_cannot_drive_is_refused(context: dict[str, object], why: str) -> None:
    from lib.engine.argv import context_environment

    said = context_environment(context, AROUND)
    assert isinstance(said, str)
    assert why in said


def test_compose_v1_runs_on_a_named_context_with_its_endpoint(fake: FakeDocker) -> None:
    import json

    from lib.engine.docker import Engine

    fake.answer(
        ["--context", "far", "compose"], stderr="docker: 'compose' is not a docker command.\n", code=1
    )
    fake.answer(
        ["--context", "far", "context", "inspect"], stdout=json.dumps(inspected("unix:///run/far.sock"))
    )
    fake.answer(["version", "--short"], stdout="1.29.2\n")  # docker-compose v1
    cli = Engine("far").compose_cli()
    assert (cli.argv, cli.version) == (("docker-compose",), "1.29.2")
    assert cli.env is not None
    assert cli.env["DOCKER_HOST"] == "unix:///run/far.sock"
    assert "DOCKER_CONTEXT" not in cli.env
    assert fake.calls == [
        ["docker", "--context", "far", "compose", "version", "--short"],
        ["docker", "--context", "far", "context", "inspect", "far", "--format", "{{json .}}"],
        ["docker-compose", "version", "--short"],
    ]


def test_the_still_thread_ends_with_the_last_long_step_and_an_error_ends_them_all() -> None:
    """No "still ..." thread outlives the command's work (an in-process run, a test, would
    otherwise find it writing to a stream already closed)."""
    ui = Ui(color="never", out=io.StringIO(), err=io.StringIO())
    ui.progress("web", "pulling example/web:1")
    thread = ui._steps.thread
    assert thread is not None
    ui.error("the pull failed")
    thread.join(timeout=60)  # a safety net: it ends at its next look, a second later
    assert not thread.is_alive()
    assert ui._steps.thread is None


def test_a_command_that_ends_without_a_result_leaves_no_step_going() -> None:
    """main() ends every command with ``ui.done()``: a step nobody closed stops there."""
    ui = Ui(color="never", out=io.StringIO(), err=io.StringIO())
    ui.progress("web", "pulling example/web:1")
    thread = ui._steps.thread
    assert thread is not None
    ui.done()
    thread.join(timeout=60)  # a safety net: it ends at its next look, a second later
    assert not thread.is_alive()
