"""The unit tests under every Python 3.10-3.13 this host has, besides the one of .venv.

claw runs on the system Python of the hosts operators have (Ubuntu 22.04: 3.10, Debian
12: 3.11, Ubuntu 24.04: 3.12, Debian 13: 3.13). `make test` runs the whole suite under
.venv's Python and, through this script, the unit tests under each other one found: on
PATH as ``python3.X``, else in pyenv's versions folder. Each gets a venv of its own under
``.cache/pythons/`` with the runtime and test requirements, made again only when they
change. The runs go side by side (`make test` runs them at the lowest priority beside its
main run, so that they take only the CPU time the integration tests leave idle while they
wait on builds and daemons; when the main run ends, SIGUSR1 puts them back at the normal
priority, if the user may raise it, so that a busy machine cannot starve them; `make`
starts the script with SIGUSR1 ignored, so one sent before it listens changes nothing).
Each Python ends with one line, its pytest summary; a failed one adds its failures
(pytest's failure section) or, for a venv that could not be made, what pip said. pip's
chatter of a venv made well (index warnings, say) stays in ``.cache/pythons/venv-3.X.log``.
The script exits 1 if any failed.

    python -m scripts.pythons
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

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


CHILDREN: list[subprocess.Popen[bytes]] = []  # venv makers and test runs, for full_speed


def full_speed(signum: int = 0, frame: object = None) -> None:
    """Back to the normal priority, this script and each child still running (SIGUSR1, when
    `make test`'s main run is over). Raising a priority takes root; anyone else keeps it low."""
    for pid in [os.getpid(), *(child.pid for child in CHILDREN if child.poll() is None)]:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, 0)


def start(argv: list[str], out: IO[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """``argv`` started with its output in ``out``, known to ``full_speed``."""
    child = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    CHILDREN.append(child)
    return child


class Failed(Exception):
    """A step failed; the message is what it said."""


def quietly(argv: list[str], log: Path) -> None:
    """Run ``argv`` with its output in ``log``; Failed with the output's end when it fails."""
    with log.open("a") as out:
        code = start(argv, out).wait()
    if code != 0:
        said = "\n".join(log.read_text().splitlines()[-20:])
        raise Failed(f"`{' '.join(argv[:4])} ...` exited {code}:\n{said}")


def venv(python: Path, minor: int) -> Path:
    """``.cache/pythons/3.<minor>``, made (again) when the requirements changed; what the
    making said goes to ``.cache/pythons/venv-3.<minor>.log``."""
    folder = CACHE / f"3.{minor}"
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in REQUIREMENTS)).hexdigest()
    stamp = folder / ".requirements"
    if stamp.exists() and stamp.read_text() == digest:
        return folder / "bin" / "python"
    shutil.rmtree(folder, ignore_errors=True)
    log = CACHE / f"venv-3.{minor}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    quietly([str(python), "-m", "venv", str(folder)], log)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    quietly([*pip, "-r", str(ROOT / "requirements-test.txt")], log)
    stamp.write_text(digest)
    return folder / "bin" / "python"


def failures(log: str) -> str:
    """pytest's failure section of ``log`` (from its FAILURES or ERRORS header on), else its end."""
    lines = log.splitlines()
    headers = [i for i, line in enumerate(lines) if line.strip("= ") in ("FAILURES", "ERRORS")]
    return "\n".join(lines[headers[0] :] if headers else lines[-40:])


def others() -> list[tuple[int, Path]]:
    """The Pythons 3.10-3.13 found here, besides the one running this script."""
    wanted = [minor for minor in MINORS if minor != sys.version_info[1]]
    return [(minor, found) for minor in wanted if (found := find(minor)) is not None]


def shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def run(pytest: tuple[str, ...] = PYTEST) -> int:
    """Each other Python's unit tests, side by side: one line each, and what failed."""
    found = others()
    missing = [f"3.{m}" for m in MINORS if m != sys.version_info[1] and m not in dict(found)]
    if missing:
        print(f"pythons: not on this host, so not tested: {', '.join(missing)}", flush=True)
    runs = []
    failed = 0
    for minor, python in found:
        log = CACHE / f"unit-3.{minor}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            interpreter = venv(python, minor)
        except Failed as exc:
            print(f"pythons: 3.{minor}: could not make its venv: {exc}", flush=True)
            failed += 1
            continue
        with log.open("w") as out:
            process = start([str(interpreter), *pytest], out, cwd=ROOT)
        runs.append((minor, python, process, log))
    for minor, python, process, log in runs:
        code = process.wait()
        said = log.read_text()
        summary = next((line for line in reversed(said.splitlines()) if " in " in line), "")
        verdict = "passed" if code == 0 else f"FAILED (exit {code}; log: {shown(log)})"
        print(f"pythons: unit tests under {python} (3.{minor}): {verdict}: {summary.strip('= ')}", flush=True)
        if code != 0:
            failed += 1
            print(failures(said), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, full_speed)
    sys.exit(run())
