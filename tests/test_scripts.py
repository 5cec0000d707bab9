"""The set-up scripts a newcomer meets first: they wait for apt, and say plainly what they need."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import demo, pythons
from tests.harness.waiting import CHILD, wait_for

ROOT = Path(__file__).resolve().parent.parent

# apt-get as another apt run meets it: while someone holds the lock $APT_LOCK (an fcntl
# lock, as apt's), it fails with apt's words naming that lock.
APT_GET = """#!/bin/sh
echo "$*" >> "$APT_LOG"
if ! "$PYTHON" -c 'import fcntl, sys; fcntl.lockf(open(sys.argv[1], "a"), fcntl.LOCK_EX | fcntl.LOCK_NB)' \\
        "$APT_LOCK" 2>/dev/null; then
    echo "E: Could not get lock $APT_LOCK. It is held by process 4242 (apt-get)" >&2
    exit 100
fi
exit 0
"""


def bin_with(tmp_path: Path, *present: str) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in present:
        (folder / name).write_text("#!/bin/sh\nexit 0\n")
        (folder / name).chmod(0o755)
    for tool in ("bash", "env", "id", "cat"):  # no sleep: bootstrap waits for the lock, not for a time
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    return folder


def waiters(lock: Path) -> list[str]:
    """The processes blocked on an fcntl lock of ``lock`` (``->`` lines of /proc/locks)."""
    inode = f":{lock.stat().st_ino} "
    return [line for line in Path("/proc/locks").read_text().splitlines() if "->" in line and inode in line]


def test_bootstrap_waits_for_the_lock_another_apt_run_holds(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("bootstrap installs as root; without root it says so (tested below)")
    folder = bin_with(
        tmp_path,
        "docker",
        "dockerd",
        "docker-registry",
        "docker-compose",
        "iptables",
        "ip",
        "unshare",
        "nsenter",
        "sshd",
    )  # fmt: skip  (busybox is missing)
    (folder / "apt-get").write_text(APT_GET)
    (folder / "apt-get").chmod(0o755)
    log, lock = tmp_path / "apt.log", tmp_path / "lists.lock"
    env = {"PATH": str(folder), "APT_LOG": str(log), "APT_LOCK": str(lock), "PYTHON": sys.executable,
           "SSHD": str(folder / "sshd")}  # fmt: skip
    held = lock.open("a")
    fcntl.lockf(held, fcntl.LOCK_EX)  # another apt run, until the test lets go
    bootstrap = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert bootstrap.stderr is not None
        said = [bootstrap.stderr.readline(), bootstrap.stderr.readline()]
        assert said == [
            "bootstrap: installing Debian packages: busybox-static\n",
            f"bootstrap: another apt run holds {lock}; waiting for it (up to 300s)\n",
        ]

        def bootstrap_waits_on_the_lock() -> bool:
            return bool(waiters(lock))

        wait_for(bootstrap_waits_on_the_lock, CHILD, lambda: log.read_text(), alive=bootstrap)
        assert log.read_text().splitlines() == ["-o DPkg::Lock::Timeout=300 update -qq"]
    finally:
        held.close()  # the other apt run ends
    rest = bootstrap.communicate(timeout=CHILD)[1]
    assert bootstrap.returncode == 0, rest
    assert rest == ""
    calls = log.read_text().splitlines()
    assert len(calls) == 3, calls  # update (locked), update again, install
    assert all("-o DPkg::Lock::Timeout=300" in call for call in calls)
    assert calls[-1].endswith("install -y -qq --no-install-recommends busybox-static")


def test_bootstrap_without_root_says_what_needs_it(tmp_path: Path) -> None:
    folder = bin_with(tmp_path, "docker", "dockerd")  # the rest is missing, and so is sudo
    (folder / "id").unlink()
    (folder / "id").write_text("#!/bin/sh\necho 1000\n")
    (folder / "id").chmod(0o755)
    env = {"PATH": str(folder), "PYTHON": sys.executable, "SSHD": str(folder / "sshd")}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "bootstrap: installing docker-registry busybox-static docker-compose openssh-server iptables iproute2"
        " util-linux"
        " needs root, and so does the private Docker engine (run as root; sudo is not installed)"
    ]


def test_demo_without_root_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert demo.main() == 1
    captured = capsys.readouterr()
    assert captured.err == "claw demo: the private Docker engine needs root (run as root, or with sudo)\n"
    assert captured.out == ""


# A Python as the venv step meets it: it says what a package index without some packages
# says, and otherwise does what it is asked (making a venv copies it in).
NOISY_PYTHON = """#!/bin/sh
echo "WARNING: Location 'file:///nowhere/simple/pluggy/' is ignored: it is neither a file nor a directory." >&2
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
exit "${NOISY_EXIT:-0}"
"""


def test_a_venv_made_well_keeps_pips_chatter_in_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    python = tmp_path / "python3.12"
    python.write_text(NOISY_PYTHON)
    python.chmod(0o755)
    monkeypatch.setattr(pythons, "CACHE", tmp_path / "cache")
    made = pythons.venv(python, 12)
    assert made == tmp_path / "cache" / "3.12" / "bin" / "python"
    assert capfd.readouterr() == ("", "")
    log = (tmp_path / "cache" / "venv-3.12.log").read_text()
    assert log.count("is neither a file nor a directory") == 2  # venv, pip install
    assert pythons.venv(python, 12) == made  # the requirements did not change: made once
    assert (tmp_path / "cache" / "venv-3.12.log").read_text() == log


def test_a_venv_that_cannot_be_made_says_what_pip_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = tmp_path / "python3.12"
    python.write_text(NOISY_PYTHON)
    python.chmod(0o755)
    monkeypatch.setattr(pythons, "CACHE", tmp_path / "cache")
    monkeypatch.setenv("NOISY_EXIT", "1")
    with pytest.raises(pythons.Failed, match="exited 1:\nWARNING: Location 'file:///nowhere/simple/pluggy/'"):
        pythons.venv(python, 12)


UNIT_TESTS = """
def test_fine():
    pass

def test_broken():
    print("what the test printed")
    assert 1 + 1 == 3
"""


def test_another_python_that_fails_shows_its_summary_and_failures_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_some.py").write_text(UNIT_TESTS)
    (tmp_path / "suite" / "pytest.ini").write_text("[pytest]\n")
    other = 13 if sys.version_info[1] != 13 else 12
    monkeypatch.setattr(pythons, "MINORS", (sys.version_info[1], other))
    monkeypatch.setattr(pythons, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(pythons, "others", lambda: [(other, Path("/opt/python3"))])
    monkeypatch.setattr(pythons, "venv", lambda python, minor: Path(sys.executable))
    suite = tmp_path / "suite"
    code = pythons.run(
        ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(suite / "pytest.ini"), str(suite))
    )
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    log = tmp_path / "cache" / f"unit-3.{other}.log"
    assert lines[0].startswith(
        f"pythons: unit tests under /opt/python3 (3.{other}): FAILED (exit 1; log: {log}): 1 failed, 1 passed in "
    )
    assert lines[1].strip("= ") == "FAILURES"  # the progress lines before it stay in the log
    assert "what the test printed" in lines
    assert any(line.startswith("E       assert (1 + 1) == 3") for line in lines)
    assert lines[-2].startswith("FAILED ")
    assert "test_some.py::test_broken" in lines[-2]
    assert lines[-1].startswith("1 failed, 1 passed in ")
    assert "[100%]" in log.read_text()
    assert not any("[100%]" in line for line in lines)


def test_make_test_runs_the_other_pythons_beside_the_main_run_at_the_lowest_priority() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    planned = subprocess.run(
        ["make", "--dry-run", "--always-make", "--no-print-directory", "test", "PYTHON=python3"],
        cwd=ROOT, capture_output=True, text=True, timeout=CHILD, check=True,
    ).stdout  # fmt: skip
    recipe = planned[planned.index("nice -n 19 ") :]
    pythons, main = recipe.index("-m scripts.pythons"), recipe.index("-m pytest -v -n")
    assert pythons < recipe.index(" & ") < main  # started in the background, then the main run
    # once the main run is over, they go back to the normal priority; their lines come after
    assert (
        main
        < recipe.index("kill -USR1 $pythons")
        < recipe.index("wait $pythons")
        < recipe.index("cat .cache/")
    )
    assert recipe.rstrip().endswith("test $main -eq 0 && test $other -eq 0"), recipe  # either failing fails


def test_full_speed_puts_the_script_and_its_running_children_back_at_the_normal_priority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scripts import pythons

    class Child:
        def __init__(self, pid: int, running: bool) -> None:
            self.pid, self.running = pid, running

        def poll(self) -> int | None:
            return None if self.running else 0

    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(os, "setpriority", lambda which, pid, value: calls.append((which, pid, value)))
    monkeypatch.setattr(pythons, "CHILDREN", [Child(101, True), Child(102, False), Child(103, True)])
    pythons.full_speed()
    assert calls == [(os.PRIO_PROCESS, os.getpid(), 0), (os.PRIO_PROCESS, 101, 0), (os.PRIO_PROCESS, 103, 0)]
