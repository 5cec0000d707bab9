from __future__ import annotations

from pathlib import Path

import pytest

from lib import target
from lib.errors import InputError


def test_pod_file_option_wins(tmp_path: Path) -> None:
    assert target.resolve(None, "pods/x.yaml", tmp_path) == target.Target("pod", Path("pods/x.yaml"))


@pytest.mark.parametrize(
    ("given", "mode", "path"),
    [
        ("claw-pod.yml", "pod", "claw-pod.yml"),
        ("other.yaml", "pod", "other.yaml"),
        ("Clawfile", "clawfile", "Clawfile"),
        ("agents/Clawfile.dev", "clawfile", "agents/Clawfile.dev"),
        ("agent", "clawfile", "agent/Clawfile"),
    ],
)
def test_positional_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, mode: str, path: str
) -> None:
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "Clawfile").write_text("FROM x\nCLAW_TYPE openclaw\n")
    monkeypatch.chdir(tmp_path)
    assert target.resolve(given, None, tmp_path) == target.Target(mode, Path(path))


def test_directory_without_clawfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="empty: no Clawfile in this directory"):
        target.resolve("empty", None, tmp_path)


def test_auto_resolution_prefers_yml_then_yaml_then_bare(tmp_path: Path) -> None:
    assert target.resolve(None, None, tmp_path) == target.Target("bare")
    (tmp_path / "claw-pod.yaml").write_text("")
    assert target.resolve(None, None, tmp_path) == target.Target("pod", Path("claw-pod.yaml"), given=False)
    (tmp_path / "claw-pod.yml").write_text("")
    assert target.resolve(None, None, tmp_path) == target.Target("pod", Path("claw-pod.yml"), given=False)


@pytest.mark.parametrize(
    ("where", "command"),
    [
        (target.Target("pod", Path("pods/my pod.yml")), "claw pull -f 'pods/my pod.yml'"),
        (target.Target("pod", Path("claw-pod.yml"), given=False), "claw pull"),
        (target.Target("clawfile", Path("agents/Clawfile")), "claw pull agents/Clawfile"),
        (target.Target("bare"), "claw pull"),
    ],
)
def test_the_pull_command_takes_the_shape_of_the_invocation(where: target.Target, command: str) -> None:
    assert where.pull_command() == command
