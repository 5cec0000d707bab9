"""The built-in recipes take what livecheck answered (SPEC §12.1), read as text: they cannot
be built here (no Docker Hub), so each is checked for the ARGs it declares, the stage that
declares them, and the installer they reach."""

from __future__ import annotations

import pytest

from lib import dockerfile, runners, upstreams


def stages(driver: str) -> list[list[str]]:
    """Each stage's instructions, continuations joined, white space folded."""
    runner = runners.builtin()[driver]
    _, items = dockerfile.lex(runner.recipe, runner.recipe_path.name)
    found: list[list[str]] = []
    for item in items:
        if item.keyword == "FROM":
            found.append([])
        if item.keyword and found:
            found[-1].append(f"{item.keyword} {' '.join(item.args.split())}")
    return found


@pytest.mark.parametrize("driver", sorted(runners.builtin()))
def test_every_builtin_recipe_takes_each_answer_of_its_upstreams(driver: str) -> None:
    runner = runners.builtin()[driver]
    assert runner.unpinned == ()
    declared = dockerfile.declared_args(runner.recipe, runner.recipe_path.name)
    assert {upstream.arg for upstream in runner.upstream} <= declared
    if runner.upstream and any(u.kind != "git" for u in runner.upstream):
        assert upstreams.BEFORE_ARG in declared


@pytest.mark.parametrize(
    ("driver", "stage", "installs"),
    [
        (
            "openclaw", 0,
            'RUN npm install -g --no-fund --no-audit ${CLAW_UPSTREAM_BEFORE:+--before=$CLAW_UPSTREAM_BEFORE} '
            '"openclaw@${CLAW_UPSTREAM_OPENCLAW:-latest}" && npm cache clean --force',
        ),
        (
            "nanobot", 0,
            "RUN uv pip install --system --no-cache ${CLAW_UPSTREAM_BEFORE:+--exclude-newer=$CLAW_UPSTREAM_BEFORE} "
            '"nanobot-ai${CLAW_UPSTREAM_NANOBOT_AI:+==$CLAW_UPSTREAM_NANOBOT_AI}"',
        ),
        (
            "nanoclaw", 0,
            "RUN git init -q . && git remote add origin https://github.com/qwibitai/nanoclaw.git "
            '&& git fetch -q --depth 1 origin "${CLAW_UPSTREAM_NANOCLAW:-HEAD}" && git checkout -q FETCH_HEAD '
            "&& rm -rf .git",
        ),
        (
            "nanoclaw", 1,
            'RUN npm install -g --no-fund --no-audit ${CLAW_UPSTREAM_BEFORE:+--before=$CLAW_UPSTREAM_BEFORE} '
            '"@anthropic-ai/claude-code@${CLAW_UPSTREAM_ANTHROPIC_AI_CLAUDE_CODE:-latest}" && npm cache clean --force',
        ),
    ],
)  # fmt: skip
def test_each_installer_gets_the_answer_and_the_time_fence_in_the_stage_that_runs_it(
    driver: str, stage: int, installs: str
) -> None:
    """An ARG is seen only in the stage that declares it (after its FROM)."""
    steps = stages(driver)[stage]
    assert installs in steps
    used = {arg for arg in ("CLAW_UPSTREAM_BEFORE", *(u.arg for u in runners.builtin()[driver].upstream))
            if arg in installs}  # fmt: skip
    declared = {step.split()[1] for step in steps[: steps.index(installs)] if step.startswith("ARG ")}
    assert used
    assert used <= declared


def test_openclaw_runs_on_the_node_its_release_declares() -> None:
    """openclaw 2026.9.6 declares node >=24.16.0 <25 || >=26.1.0 (SPEC §12.1)."""
    assert runners.builtin()["openclaw"].images == ["node:24-slim"]


def test_a_crlf_checkout_of_a_recipe_has_the_same_sha() -> None:
    runner = runners.builtin()["openclaw"]
    crlf = runner.recipe.replace("\n", "\r\n")
    import dataclasses

    assert dataclasses.replace(runner, recipe=crlf).recipe_sha == runner.recipe_sha
    assert dataclasses.replace(runner, recipe=runner.recipe + "#\n").recipe_sha != runner.recipe_sha
