"""The documentation stays true: the CLI reference, the examples, the README's runnable blocks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lib import clawfile, pod
from scripts import cli_docs

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = re.compile(r"<!-- runnable -->\n```sh\n(.*?)```", re.DOTALL)


def test_cli_reference_matches_the_help() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == cli_docs.render(), (
        "docs/cli.md is out of date: run `python -m scripts.cli_docs`"
    )


@pytest.mark.parametrize("example", ["quickstart", "offline"])
def test_examples_read_cleanly(example: str, tmp_path: Path) -> None:
    """Both examples parse; the offline one once the demo has filled in its registry."""
    directory = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, directory)
    for path in directory.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace("{registry}", "127.0.0.1:5000"))
    the_pod = pod.load(directory / "claw-pod.yml")
    for service in the_pod.built:
        assert service.build is not None
        assert service.build.is_clawfile
        parsed = clawfile.parse(service.build.file.read_text(), str(service.build.file))
        assert parsed.claw_type == "openclaw"


def runnable_blocks() -> list[str]:
    return RUNNABLE.findall((ROOT / "README.md").read_text())


def test_the_readme_has_runnable_blocks() -> None:
    assert len(runnable_blocks()) >= 2


@pytest.mark.parametrize("block", runnable_blocks())
def test_readme_block_runs(block: str, tmp_path: Path) -> None:
    """Each block marked `<!-- runnable -->` runs in bash from the checkout, as written."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["XDG_STATE_HOME"] = str(tmp_path)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"README block failed:\n{block}\n{result.stdout}\n{result.stderr}"
