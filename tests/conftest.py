"""Test harness wiring: the private engine, the integration guard, CI rules.

- Integration tests carry ``@pytest.mark.integration`` and get the private
  engine (``DOCKER_HOST`` points at it for the whole test).
- A test that uses the engine without the marker fails loudly.
- Every other test runs with ``DOCKER_HOST`` pointing at a socket that does
  not exist, so an accidental docker call fails instead of reaching a daemon.
- With ``CI`` set, a skipped test is a failed test: nothing may skip there.
- The reliability tally (``tally(kind)``, gathered from the workers of a parallel run)
  closes the run in one line and, after a whole run that passed, goes to
  ``.cache/tally.json``, from which ``python -m scripts.tally`` writes the figures of
  ``docs/reliability.md``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import signal
import tempfile
from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import engine as harness
from tests.harness import toolchains
from tests.harness.engine import Engine
from tests.harness.fake_docker import FakeDocker

CI = bool(os.environ.get("CI"))
ROOT = Path(__file__).resolve().parent.parent
TALLY_FILE = ROOT / ".cache" / "tally.json"
_tally: Counter[str] = Counter()


def tally(kind: str, count: int = 1) -> None:
    """Count what the reliability tests try (faults, interruptions, runs, inputs)."""
    _tally[kind] += count


def pytest_configure(config: pytest.Config) -> None:
    """A run started in the background by a non-interactive shell (``make test &``, some CI
    runners) inherits SIGINT ignored, and so would every claw it starts, which would then
    shrug off the interruption tests' Ctrl-C. Deliver it, as a terminal would."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


NO_ENGINE = "unix:///nonexistent/unit-tests-must-not-call-docker.sock"
_started: list[Engine] = []


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    try:
        started = harness.start()
    except harness.EngineUnavailable as exc:
        if CI:
            pytest.fail(f"integration tests must run in CI, but the private engine is unavailable: {exc}")
        pytest.skip(f"private engine unavailable: {exc}")
    _started.append(started)
    try:
        yield started
    finally:
        harness.stop(started.root)


@pytest.fixture(autouse=True)
def _docker_target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    integration = request.node.get_closest_marker("integration") is not None
    if "engine" in request.fixturenames and not integration:
        pytest.fail("this test uses the private engine but is not marked @pytest.mark.integration")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    if integration:
        started: Engine = request.getfixturevalue("engine")
        for key, value in started.env.items():
            monkeypatch.setenv(key, value)
    else:
        monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
        stand_in = request.getfixturevalue("no_engine_docker")
        monkeypatch.setenv("PATH", f"{stand_in}{os.pathsep}{os.environ.get('PATH', '')}")


UNREACHABLE = """#!/bin/sh
# The docker CLI as unit tests meet it: its engine cannot be reached (DOCKER_HOST
# points nowhere), and so it answers every command, as the real CLI does then.
echo "Cannot connect to the Docker daemon at $DOCKER_HOST. Is the docker daemon running?" >&2
exit 1
"""


@pytest.fixture(scope="session")
def no_engine_docker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``docker`` first on PATH for unit tests, so that they pass on a host with no
    docker binary and never reach a daemon on one that has it."""
    folder = tmp_path_factory.mktemp("no-engine-docker")
    script = folder / "docker"
    script.write_text(UNREACHABLE)
    script.chmod(0o755)
    return folder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped with CI set (nothing may skip in CI): {report.longrepr}"
    return report


def _engine_lines() -> list[str]:
    return [
        f"private engine: {started.host} (own net/mount/pid namespaces); registry: {started.registry} inside them"
        for started in _started
    ]


_worker_engines: list[str] = []  # the engines of a parallel run's workers, for the summary
_workers: set[str] = set()  # the workers that handed in their figures


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of a parallel run (pytest-xdist) hands its figures to the main process."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["claw"] = {
            "tally": dict(_tally),
            "engines": _engine_lines(),
            "toolchains": toolchains.DESCRIBED,
        }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    output = getattr(node, "workeroutput", {})
    figures = output.get("claw", {})
    _workers.add(str(output.get("workerid", len(_workers))))
    _tally.update(figures.get("tally", {}))
    _worker_engines.extend(figures.get("engines", []))
    toolchains.DESCRIBED.update(figures.get("toolchains", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    if _tally:
        counts = ", ".join(f"{kind}: {count}" for kind, count in sorted(_tally.items()))
        terminalreporter.write_line(f"reliability tally: {counts}")
    for line in _engine_lines() + _worker_engines:
        terminalreporter.write_line(line)
    for toolchain, described in sorted(toolchains.DESCRIBED.items()):
        terminalreporter.write_line(f"toolchain {toolchain}: {' | '.join(described.splitlines())}")
    if hasattr(terminalreporter.config, "workerinput"):
        return  # a worker of a parallel run: the main process writes the tally of them all
    record = tally_record(terminalreporter, exitstatus)
    target = os.environ.get("CLAW_TALLY_FILE")
    if target or (record["whole"] and exitstatus == 0):
        path = Path(target) if target else TALLY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        terminalreporter.write_line(f"reliability tally written to {path}")


def whole(config: pytest.Config) -> bool:
    """Whether the run took every test of the configured paths: no path, -k, -m or --deselect
    given (workers of a parallel run deselect on their own, unseen by the main process)."""
    option = config.option
    chosen = (
        getattr(option, "keyword", ""),
        getattr(option, "markexpr", ""),
        getattr(option, "deselect", None),
    )
    return config.args_source == pytest.Config.ArgsSource.TESTPATHS and not any(chosen)


def tally_record(reporter: pytest.TerminalReporter, exitstatus: int) -> dict[str, Any]:
    """The run's tally and what it ran, as ``scripts/tally.py`` reads it."""
    config = reporter.config
    outcomes = {
        name: len(reporter.stats.get(key, []))
        for name, key in (("passed", "passed"), ("failed", "failed"), ("errors", "error"),
                          ("skipped", "skipped"), ("xfailed", "xfailed"), ("xpassed", "xpassed"),
                          ("deselected", "deselected"))
    }  # fmt: skip
    return {
        "tally": dict(sorted(_tally.items())),
        "tests": outcomes,
        "exitstatus": int(exitstatus),
        "whole": whole(config) and not outcomes["deselected"],
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "processes": len(_workers) or 1,
        "toolchains": dict(sorted(toolchains.DESCRIBED.items())),
    }


@pytest.fixture
def fixtures() -> Path:
    return Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def private_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Logs and lock files of this test under ``tmp_path``."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return tmp_path


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    """The stand-in ``docker`` first on PATH, answering what the test scripts."""
    stand_in = FakeDocker(tmp_path)
    for name, value in stand_in.install(tmp_path / "bin").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return stand_in


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's very last line says how many integration tests were skipped, and why."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = [r for r in reporter.stats.get("skipped", []) if "integration" in r.keywords]
    if skipped:
        reasons = sorted(
            {str(r.longrepr[-1]).removeprefix("Skipped: ") for r in skipped if isinstance(r.longrepr, tuple)}
        )
        reporter.write_line(
            f"SKIPPED {len(skipped)} integration tests: {'; '.join(reasons)} "
            "(they run on the private engine, which needs root; with CI set they never skip)",
            red=True,
            bold=True,
        )
