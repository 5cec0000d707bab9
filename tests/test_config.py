from __future__ import annotations

from pathlib import Path

import pytest

from lib import config
from lib.errors import InputError

FULL = """\
[infra]
cllama = "registry.internal/mostlydev/cllama:v0.4.1"

[runners.openclaw]
recipe = "runners/openclaw.Dockerfile"
probe = ["openclaw", "--version"]
probe_timeout = 60

[runners.mybot]
alias = "mybot"
recipe = "runners/mybot.Dockerfile"
probe = []

[pull]
jobs = 2
retries = 4
keep = 5
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "runners").mkdir()
    (tmp_path / "runners" / "openclaw.Dockerfile").write_text("FROM x\n")
    (tmp_path / "runners" / "mybot.Dockerfile").write_text("FROM y\n")
    path = tmp_path / "claw.toml"
    path.write_text(FULL)
    return path


def test_full_config(config_file: Path) -> None:
    cfg = config.load(str(config_file))
    assert cfg.path == config_file
    assert cfg.infra == {"cllama": "registry.internal/mostlydev/cllama:v0.4.1"}
    openclaw = cfg.runners["openclaw"]
    assert openclaw.recipe == config_file.parent / "runners" / "openclaw.Dockerfile"
    assert openclaw.probe == ("openclaw", "--version")
    assert openclaw.probe_timeout == 60.0
    assert openclaw.alias is None
    assert cfg.runners["mybot"].alias == "mybot"
    assert cfg.runners["mybot"].probe == ()
    assert cfg.pull == config.PullSettings(jobs=2, retries=4, keep=5)


def test_defaults_without_any_file(tmp_path: Path) -> None:
    cfg = config.load(None, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg == config.Config()
    assert cfg.pull == config.PullSettings(jobs=2, retries=3, keep=3)


def test_lookup_order(tmp_path: Path, config_file: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "claw").mkdir(parents=True)
    (xdg / "claw" / "config.toml").write_text("[pull]\njobs = 7\n")
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert config.load(None, env).pull.jobs == 7
    env_var = tmp_path / "env.toml"
    env_var.write_text("[pull]\njobs = 8\n")
    assert config.load(None, {**env, "CLAW_CONFIG": str(env_var)}).pull.jobs == 8
    assert config.load(str(config_file), {**env, "CLAW_CONFIG": str(env_var)}).pull.jobs == 2


def test_home_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.locate(None, {}) == (tmp_path / ".config" / "claw" / "config.toml", False)


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="config file not found"):
        config.load(str(tmp_path / "nope.toml"))
    with pytest.raises(InputError, match="config file not found"):
        config.load(None, {"CLAW_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1", "bogus: unknown key"),
        ("[infra]\nmystery = 'a/b:1'", "infra.mystery: unknown key"),
        ("[infra]\ncllama = 3", "infra.cllama: expected a string, got an integer"),
        ("[infra]\ncllama = 'Not A Ref'", "infra.cllama: not a valid image reference"),
        ("infra = 3", "infra: expected a table, got an integer"),
        ("[runners.x]\nrecipe = 'missing.Dockerfile'", "runners.x.recipe: file not found"),
        ("[runners.x]\nrecipie = 'a'", "runners.x.recipie: unknown key"),
        ("[runners.x]\nprobe = 'x --version'", "runners.x.probe: expected a list of strings, got a string"),
        ("[runners.x]\nprobe = ['x', 1]", "runners.x.probe: expected a list of non-empty strings"),
        ("[runners.x]\nprobe_timeout = 'soon'", "runners.x.probe_timeout: expected a number, got a string"),
        ("[runners.x]\nprobe_timeout = 0", "runners.x.probe_timeout: must be at least 1"),
        ("[runners.x]\nalias = 'My Bot'", "runners.x.alias: not a valid local image name"),
        ("[runners.openclaw]\npin = 2026", "runners.openclaw.pin: expected a version tag"),
        ("[runners.openclaw]\npin = 'latest'", "runners.openclaw.pin: expected a version tag of the runner"),
        (
            "[runners.openclaw]\npin = 'v1.0 beta'",
            "runners.openclaw.pin: expected a version tag of the runner",
        ),
        ("[pull]\njobs = 0", "pull.jobs: must be at least 1"),
        ("[pull]\nretries = 2.5", "pull.retries: expected an integer, got a number"),
        ("[pull]\nkeep = true", "pull.keep: expected an integer, got a boolean"),
        ("[pull]\njobs = 1\njobs = 2", 'claw.toml: Key "jobs" already exists.'),
        ("a = 1\na = 2", 'claw.toml:2: Key "a" already exists.'),
        ("[pull\n", "claw.toml:1: "),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "claw.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        config.load(str(path))
    assert caught.value.message.startswith(str(path)), caught.value.message
    assert message in caught.value.message


def test_a_pin_holds_a_runner_at_a_version_tag(tmp_path: Path) -> None:
    from lib import runners

    path = tmp_path / "claw.toml"
    path.write_text(
        '[runners.openclaw]\npin = "v2026.5.22"\n\n[runners.nanobot]\npin = "built-20261129-0123456789ab"\n'
    )
    loaded = config.load(str(path))
    assert loaded.runners["openclaw"].pin == "v2026.5.22"
    table = runners.table(loaded)
    assert table["openclaw"].current == "openclaw:v2026.5.22"
    assert table["nanobot"].current == "nanobot:built-20261129-0123456789ab"
    assert table["microclaw"].current == "microclaw:latest"
