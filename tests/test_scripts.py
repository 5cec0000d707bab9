"""The set-up scripts a newcomer meets first: they wait for apt, and say plainly what they need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import demo

ROOT = Path(__file__).resolve().parent.parent

APT_GET = """#!/bin/sh
echo "$*" >> "$APT_LOG"
if [ ! -e "$APT_LOG.locked-once" ]; then
    touch "$APT_LOG.locked-once"
    echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
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
    for tool in ("bash", "env", "id", "sleep", "touch", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    return folder


def test_bootstrap_waits_for_another_apt_run(tmp_path: Path) -> None:
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
    log = tmp_path / "apt.log"
    env = {"PATH": str(folder), "APT_LOG": str(log), "PYTHON": sys.executable, "SSHD": str(folder / "sshd")}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "another apt run holds a lock; waiting for it" in result.stderr
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
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")], env=env, capture_output=True, text=True, timeout=60
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
