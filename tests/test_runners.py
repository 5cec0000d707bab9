from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lib import clawfile, config, dockerfile, runners
from lib.errors import InputError


def test_the_six_builtin_runners() -> None:
    table = runners.builtin()
    assert {driver: r.alias for driver, r in table.items()} == {
        "openclaw": "openclaw",
        "nanobot": "nanobot",
        "nanoclaw": "nanoclaw-orchestrator",
        "microclaw": "microclaw",
        "nullclaw": "nullclaw",
        "picoclaw": "picoclaw",
    }
    assert table["openclaw"].probe == ("openclaw", "--version")
    assert table["picoclaw"].probe == ()
    assert table["nanobot"].probe[:2] == ("python", "-c")
    assert table["nanoclaw"].probe[-1] == "require('/workspace/package.json').version"


@pytest.mark.parametrize("driver", sorted(runners.builtin()))
def test_every_recipe_is_a_dockerfile_from_upstream(driver: str) -> None:
    runner = runners.builtin()[driver]
    _, items = dockerfile.lex(runner.recipe, runner.recipe_path.name)
    keywords = [item.keyword for item in items if item.keyword]
    assert keywords[0] == "FROM"
    assert not any(k.startswith("CLAW_") for k in keywords)
    assert runner.recipe_sha == "sha256:" + hashlib.sha256(runner.recipe_path.read_bytes()).hexdigest()


UPSTREAM_IMAGES = {
    "openclaw": ["node:24-slim"],
    "nanobot": ["ghcr.io/astral-sh/uv:python3.12-bookworm-slim"],
    "nanoclaw": ["node:22-bookworm-slim", "docker:27-cli"],
    "microclaw": ["ghcr.io/microclaw/microclaw:latest"],
    "nullclaw": ["ghcr.io/nullclaw/nullclaw:latest"],
    "picoclaw": ["docker.io/sipeed/picoclaw:latest"],
}


@pytest.mark.parametrize("driver", sorted(UPSTREAM_IMAGES))
def test_each_recipe_builds_from_upstreams_images(driver: str) -> None:
    """The images each recipe starts from, FROM and COPY --from, as upstream's recipe
    (what livecheck asks the digests of)."""
    assert runners.builtin()[driver].images == UPSTREAM_IMAGES[driver]


def instructions(driver: str) -> list[str]:
    runner = runners.builtin()[driver]
    _, items = dockerfile.lex(runner.recipe, runner.recipe_path.name)
    return [f"{item.keyword} {' '.join(item.args.split())}" for item in items if item.keyword]


def test_the_openclaw_recipe_is_upstreams() -> None:
    steps = instructions("openclaw")
    tools = "bash ca-certificates cron curl git jq tini build-essential python3 make g++ cmake"
    assert any(tools in step for step in steps if step.startswith("RUN apt-get"))
    assert any(
        "npm install -g" in step and '"openclaw@${CLAW_UPSTREAM_OPENCLAW:-latest}"' in step for step in steps
    )
    assert "USER root" in steps
    assert steps[-1] == 'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/openclaw-entrypoint.sh"]'
    assert "<<" not in runners.builtin()["openclaw"].recipe  # no RUN heredoc: the legacy builder builds it


def test_the_nanoclaw_runtime_is_upstreams() -> None:
    steps = instructions("nanoclaw")
    runtime = steps[[n for n, step in enumerate(steps) if step.startswith("FROM ")][1] :]
    assert any("ca-certificates git procps tini" in step for step in runtime)
    assert "COPY --from=docker:27-cli /usr/local/bin/docker /usr/local/bin/docker" in runtime
    assert any(
        '"@anthropic-ai/claude-code@${CLAW_UPSTREAM_ANTHROPIC_AI_CLAUDE_CODE:-latest}"' in step
        for step in runtime
    )
    assert "RUN mkdir -p /workspace/groups/main /workspace/container/skills" in runtime
    assert runtime[-1] == 'ENTRYPOINT ["/usr/bin/tini", "--", "node", "/workspace/dist/index.js"]'


def test_the_nanobot_and_microclaw_recipes_are_upstreams() -> None:
    nanobot = instructions("nanobot")
    assert any("ca-certificates curl git jq procps tini" in step for step in nanobot)
    assert any(step.startswith("RUN uv pip install --system --no-cache ") for step in nanobot)
    assert nanobot[-4:] == [
        "ENV HOME=/root", "WORKDIR /root/.nanobot/workspace",
        'ENTRYPOINT ["/usr/bin/tini", "--", "nanobot"]', 'CMD ["gateway"]',
    ]  # fmt: skip
    assert "RUN mkdir -p /root/.nanobot/workspace/skills" in nanobot
    microclaw = instructions("microclaw")
    assert (microclaw[1], microclaw[-1]) == ("USER root", "USER microclaw")
    assert "mkdir -p /app/config /claw-data" in microclaw[2]


def make_config(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "claw.toml"
    path.write_text(text)
    return config.parse(text, path)


def test_config_overrides_a_builtin_runner(tmp_path: Path) -> None:
    (tmp_path / "mine.Dockerfile").write_text("FROM example/openclaw:1\n")
    table = runners.table(
        make_config(tmp_path, '[runners.openclaw]\nrecipe = "mine.Dockerfile"\nprobe_timeout = 5\n')
    )
    openclaw = table["openclaw"]
    assert openclaw.recipe == "FROM example/openclaw:1\n"
    assert openclaw.recipe_path == tmp_path / "mine.Dockerfile"
    assert (openclaw.alias, openclaw.probe, openclaw.probe_timeout) == (
        "openclaw",
        ("openclaw", "--version"),
        5,
    )
    assert table["nanobot"] == runners.builtin()["nanobot"]


def test_config_adds_a_runner(tmp_path: Path) -> None:
    (tmp_path / "mybot.Dockerfile").write_text("FROM example/mybot\n")
    table = runners.table(
        make_config(tmp_path, '[runners.mybot]\nrecipe = "mybot.Dockerfile"\nprobe = ["mybot", "-V"]\n')
    )
    assert (table["mybot"].alias, table["mybot"].probe) == ("mybot", ("mybot", "-V"))


def test_a_new_runner_needs_a_recipe(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"claw.toml: runners.mybot: a new runner needs `recipe`"):
        runners.table(make_config(tmp_path, '[runners.mybot]\nalias = "mybot"\n'))


def test_two_runners_cannot_share_an_alias(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"runners.nanobot.alias: 'openclaw' is already the alias"):
        runners.table(make_config(tmp_path, '[runners.nanobot]\nalias = "openclaw"\n'))


@pytest.mark.parametrize(
    ("source", "used"),
    [
        ("FROM openclaw\nCLAW_TYPE openclaw\n", True),
        ("FROM openclaw:latest\nCLAW_TYPE openclaw\n", True),
        ("FROM openclaw:v0.4.0\nCLAW_TYPE openclaw\n", True),
        ("FROM --platform=linux/amd64 openclaw:latest AS base\nFROM base\nCLAW_TYPE openclaw\n", True),
        ("FROM node:22 AS build\nFROM openclaw\nCOPY --from=build /a /a\nCLAW_TYPE openclaw\n", True),
        ("FROM node:22\nCLAW_TYPE openclaw\n", False),
        ("FROM node:22 AS openclaw\nFROM openclaw\nCLAW_TYPE openclaw\n", False),  # a stage, not the alias
        ("FROM example.com/openclaw\nCLAW_TYPE openclaw\n", False),
        ("FROM openclaw\nCLAW_TYPE nanobot\n", False),
        ("FROM hermes\nCLAW_TYPE hermes\n", False),
    ],
)
def test_a_runner_is_used_when_its_type_matches_and_a_from_names_its_alias(source: str, used: bool) -> None:
    runner = runners.used_by(clawfile.parse(source), runners.builtin())
    assert (runner is not None) == used


def test_unknown_driver_names_the_file_the_line_and_the_fix() -> None:
    parsed = clawfile.parse("# an agent\nFROM openclaw\nCLAW_TYPE mybot\n", "agents/Clawfile")
    with pytest.raises(InputError) as caught:
        runners.runner_of(parsed, runners.builtin())
    assert caught.value.message == (
        "agents/Clawfile:3: no runner for CLAW_TYPE 'mybot' (known: hermes, microclaw, nanobot, nanoclaw, "
        "nullclaw, openclaw, picoclaw) (a new runner: add [runners.mybot] with a recipe to the config file)"
    )


def test_a_typo_in_claw_type_gets_the_closest_driver() -> None:
    parsed = clawfile.parse("FROM openclaw\nCLAW_TYPE opnclaw\n", "Clawfile")
    with pytest.raises(
        InputError, match=r"^Clawfile:2: no runner for CLAW_TYPE 'opnclaw' .*; did you mean 'openclaw'\?"
    ):
        runners.used_by(parsed, runners.builtin())


def test_hermes_is_known_and_has_no_runner_base() -> None:
    parsed = clawfile.parse("FROM ghcr.io/mostlydev/hermes-base:v1\nCLAW_TYPE hermes\n", "Clawfile")
    assert runners.runner_of(parsed, runners.builtin()) is None
    assert runners.uses(parsed, runners.builtin()) == []
