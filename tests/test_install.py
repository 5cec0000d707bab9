"""`pip install .` into a fresh venv gives a working `claw` and no top-level `lib` package.

The checkout's files are copied first, so the build never writes into the
checkout; pip fetches the pinned dependencies from the package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_pip_install_gives_a_claw_command_and_no_lib_package(tmp_path: Path) -> None:
    files = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], ROOT).stdout.split()
    source = tmp_path / "source"
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    pip = _run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "."], source)
    assert pip.returncode == 0, pip.stderr
    where = _run([str(venv / "bin" / "python"), "-c", "import claw; print(claw.__file__)"], tmp_path).stdout
    packages = Path(where.strip()).parent.parent
    assert (packages / "claw" / "data" / "runners.toml").is_file()
    assert not (packages / "lib").exists()
    no_lib = _run([str(venv / "bin" / "python"), "-c", "import lib"], tmp_path)
    assert "No module named 'lib'" in no_lib.stderr

    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DOCKER_HOST": "unix:///nonexistent.sock"}
    version = _run([str(venv / "bin" / "claw"), "--version"], tmp_path, env)
    assert (version.returncode, version.stdout.strip()) == (0, "claw, version 0.1.0")
    empty = tmp_path / "empty"
    empty.mkdir()
    up = _run([str(venv / "bin" / "claw"), "up"], empty, env)
    assert (up.returncode, up.stderr.strip()) == (
        2,
        "error: no pod here: run where claw-pod.yml is, or name the pod with -f",
    )
    pull = _run([str(venv / "bin" / "claw"), "pull", "--no-runners"], empty, env)
    assert pull.returncode == 1
    assert pull.stderr.startswith(
        "error: cannot reach the Docker engine (DOCKER_HOST=unix:///nonexistent.sock)"
    )
