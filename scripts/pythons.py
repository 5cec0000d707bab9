"""The unit tests under every Python 3.10-3.13 this host has, besides the one of .venv.

claw runs on the system Python of the hosts operators have (Ubuntu 22.04: 3.10, Debian
12: 3.11, Ubuntu 24.04: 3.12, Debian 13: 3.13). `make test` runs the whole suite under
.venv's Python and, through this script, the unit tests under each other one found: on
PATH as ``python3.X``, else in pyenv's versions folder. Each gets a venv of its own under
``.cache/pythons/`` with the runtime and test requirements, made again only when they
change. The runs go side by side, and the script exits 1 if any failed.

    python -m scripts.pythons
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "pythons"
MINORS = (10, 11, 12, 13)
REQUIREMENTS = ("requirements.txt", "requirements-test.txt")
PYTEST = ("-m", "pytest", "-m", "not integration", "-q", "-p", "no:cacheprovider")


def find(minor: int) -> Path | None:
    """A working ``python3.<minor>``: on PATH, else the newest in pyenv's versions."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = shutil.which(f"python3.{minor}")
    candidates = [Path(found)] if found else []
    candidates += sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"), reverse=True)
    for candidate in candidates:
        said = subprocess.run(
            [str(candidate), "-c", "import sys; print(sys.version_info[1])"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if said.returncode == 0 and said.stdout.strip() == str(minor):
            return candidate  # a pyenv shim of a version not selected fails here
    return None


def venv(python: Path, minor: int) -> Path:
    """``.cache/pythons/3.<minor>``, made (again) when the requirements changed."""
    folder = CACHE / f"3.{minor}"
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in REQUIREMENTS)).hexdigest()
    stamp = folder / ".requirements"
    if stamp.exists() and stamp.read_text() == digest:
        return folder / "bin" / "python"
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(ROOT / "requirements-test.txt")], check=True)
    stamp.write_text(digest)
    return folder / "bin" / "python"


def others() -> list[tuple[int, Path]]:
    """The Pythons 3.10-3.13 found here, besides the one running this script."""
    wanted = [minor for minor in MINORS if minor != sys.version_info[1]]
    return [(minor, found) for minor in wanted if (found := find(minor)) is not None]


def run() -> int:
    found = others()
    missing = [f"3.{m}" for m in MINORS if m != sys.version_info[1] and m not in dict(found)]
    if missing:
        print(f"pythons: not on this host, so not tested: {', '.join(missing)}", flush=True)
    runs = []
    for minor, python in found:
        log = CACHE / f"unit-3.{minor}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            try:
                interpreter = venv(python, minor)
            except subprocess.CalledProcessError as exc:
                print(f"pythons: 3.{minor}: could not make its venv: {exc}", flush=True)
                return 1
            process = subprocess.Popen(
                [str(interpreter), *PYTEST], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
            runs.append((minor, python, process, log))
    failed = 0
    for minor, python, process, log in runs:
        code = process.wait()
        summary = next((line for line in reversed(log.read_text().splitlines()) if " in " in line), "")
        verdict = "passed" if code == 0 else f"FAILED (exit {code}; log: {log.relative_to(ROOT)})"
        print(f"pythons: unit tests under {python} (3.{minor}): {verdict}: {summary.strip('= ')}", flush=True)
        failed += code != 0
        if code != 0:
            print(log.read_text()[-4000:], flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run())
