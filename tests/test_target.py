from __future__ import annotations

from pathlib import Path

import pytest

from lib import clawfile, pod, target
from lib.errors import InputError

POD = "services:\n  web:\n    image: nginx\n"
CLAWFILE = "FROM x\nCLAW_TYPE openclaw\n"


def shape(where: target.Target) -> tuple[str, Path | None, bool]:
    """What the old ``Target(mode, path, given)`` held: the kind, the path as given, given."""
    if isinstance(where, target.PodTarget):
        return ("pod", where.path, where.given)
    if isinstance(where, target.ClawfileTarget):
        return ("clawfile", where.path, where.given)
    return ("bare", None, True)


def test_pod_file_option_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pods").mkdir()
    (tmp_path / "pods" / "x.yaml").write_text(POD)
    monkeypatch.chdir(tmp_path)
    assert shape(target.target_of(None, "pods/x.yaml", tmp_path)) == ("pod", Path("pods/x.yaml"), True)


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
    (tmp_path / "agent" / "Clawfile").write_text(CLAWFILE)
    # The target is read as it is resolved: every file a case names exists.
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "Clawfile.dev").write_text(CLAWFILE)
    (tmp_path / "Clawfile").write_text(CLAWFILE)
    (tmp_path / "claw-pod.yml").write_text(POD)
    (tmp_path / "other.yaml").write_text(POD)
    monkeypatch.chdir(tmp_path)
    assert shape(target.target_of(given, None, tmp_path)) == (mode, Path(path), True)


def test_the_target_is_read_once_as_it_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Clawfile").write_text(CLAWFILE)
    (tmp_path / "claw-pod.yml").write_text(POD)
    monkeypatch.chdir(tmp_path)
    found = target.target_of("Clawfile", None, tmp_path)
    assert isinstance(found, target.ClawfileTarget)
    assert found.clawfile == clawfile.parse(CLAWFILE, "Clawfile")
    found_pod = target.target_of("claw-pod.yml", None, tmp_path)
    assert isinstance(found_pod, target.PodTarget)
    assert [s.name for s in found_pod.pod.services] == ["web"]


def test_directory_without_clawfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="empty: no Clawfile in this directory"):
        target.target_of("empty", None, tmp_path)


def test_auto_resolution_prefers_yml_then_yaml_then_bare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the pod found is read by the path shown, relative to cwd
    assert shape(target.target_of(None, None, tmp_path)) == ("bare", None, True)
    (tmp_path / "claw-pod.yaml").write_text(POD)
    assert shape(target.target_of(None, None, tmp_path)) == ("pod", Path("claw-pod.yaml"), False)
    (tmp_path / "claw-pod.yml").write_text(POD)
    assert shape(target.target_of(None, None, tmp_path)) == ("pod", Path("claw-pod.yml"), False)


def a_pod(path: str) -> pod.Pod:
    return pod.parse(POD, Path(path))


@pytest.mark.parametrize(
    ("where", "command"),
    [
        (target.PodTarget(Path("pods/my pod.yml"), True, a_pod("pods/my pod.yml")), "claw pull -f 'pods/my pod.yml'"),
        (target.PodTarget(Path("claw-pod.yml"), False, a_pod("claw-pod.yml")), "claw pull"),
        (target.ClawfileTarget(Path("agents/Clawfile"), True, clawfile.parse(CLAWFILE)), "claw pull agents/Clawfile"),
        (target.BareTarget(), "claw pull"),
    ],
)  # fmt: skip
def test_the_pull_command_takes_the_shape_of_the_invocation(where: target.Target, command: str) -> None:
    assert where.command("pull") == command
