"""The harness's own promises: a run that skipped integration tests says so, last and loud."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
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
        cwd=ROOT, env={**os.environ, "CI": "true"}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "skipped with CI set (nothing may skip in CI)" in result.stdout
    assert result.stdout.rstrip().endswith(
        "1 passed, 2 errors in " + result.stdout.rstrip().rsplit(" in ", 1)[1]
    )
