"""The harness's own promises: a run that skipped integration tests says so, last and loud."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.waiting import CHILD

ROOT = Path(__file__).resolve().parent.parent

SKIPPING = """
import pytest

@pytest.fixture(scope="session")
def engine() -> None:  # as the engine fixture does without root
    pytest.skip("the private engine needs root (namespaces, dockerd)")

@pytest.mark.integration
def test_one() -> None:
    pass

@pytest.mark.integration
def test_two() -> None:
    pass

def test_unit() -> None:
    pass
"""


def test_skipped_integration_tests_end_the_run_with_a_loud_line(tmp_path: Path) -> None:
    (tmp_path / "test_needs_engine.py").write_text(SKIPPING)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "--rootdir", str(ROOT), "-c",
         str(ROOT / "pyproject.toml"), "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=CHILD, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().splitlines()[-1] == (
        "SKIPPED 2 integration tests: the private engine needs root (namespaces, dockerd) "
        "(they run on the private engine, which needs root; with CI set they never skip)"
    )


def test_with_ci_set_a_skipped_integration_test_fails(tmp_path: Path) -> None:
    (tmp_path / "test_needs_engine.py").write_text(SKIPPING)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "--rootdir", str(ROOT), "-c",
         str(ROOT / "pyproject.toml"), "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=ROOT, env={**os.environ, "CI": "true"}, capture_output=True, text=True, timeout=CHILD, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "skipped with CI set (nothing may skip in CI)" in result.stdout
    assert result.stdout.rstrip().endswith(
        "1 passed, 2 errors in " + result.stdout.rstrip().rsplit(" in ", 1)[1]
    )


COUNTING = """
import pytest
from tests.conftest import tally

@pytest.mark.parametrize("case", range(6))
def test_counts(case: int) -> None:
    tally("interruptions")
    tally("faults injected", 2)

def test_other() -> None:
    pass
"""


def test_the_tally_of_every_worker_closes_the_run_and_goes_to_its_file(tmp_path: Path) -> None:
    (tmp_path / "test_counting.py").write_text(COUNTING)
    written = tmp_path / "tally.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "--rootdir", str(ROOT), "-c",
         str(ROOT / "pyproject.toml"), "-q", "-p", "no:cacheprovider", "-n", "2", "-k", "counts", str(tmp_path)],
        cwd=ROOT, env={**os.environ, "CLAW_TALLY_FILE": str(written)}, capture_output=True, text=True,
        timeout=CHILD, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "reliability tally: faults injected: 12, interruptions: 6" in lines
    assert f"reliability tally written to {written}" in lines
    run = json.loads(written.read_text())
    assert run["tally"] == {"faults injected": 12, "interruptions": 6}
    assert run["tests"] == {
        "passed": 6, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0,
        "deselected": 0,  # the workers deselected test_other, unseen by the main process
    }  # fmt: skip
    assert run["whole"] is False  # a path and -k: docs/reliability.md takes no figures from it
    assert run["exitstatus"] == 0
    assert run["processes"] == 2
    assert run["python"] == platform.python_version()


@pytest.mark.parametrize(
    ("chosen", "whole"), [((), True), (("-k", "counts"), False), (("-m", "not slow"), False)]
)
def test_a_run_is_whole_when_it_took_every_test_of_its_paths(
    tmp_path: Path, chosen: tuple[str, ...], whole: bool
) -> None:
    (tmp_path / "test_counting.py").write_text(COUNTING)
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = .\n")
    written = tmp_path / "tally.json"
    env = {**os.environ, "CLAW_TALLY_FILE": str(written), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q", "-p", "no:cacheprovider", *chosen],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CHILD, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(written.read_text())["whole"] is whole
