"""The slips a new operator makes and the leftovers of earlier issues, on the private engine."""

from __future__ import annotations

import pytest

from tests.harness.toolchains import Toolchain
from tests.integration.conftest import Lab

pytestmark = pytest.mark.integration


def test_a_pods_build_target_gets_the_clawfiles_labels_and_the_provenance(
    lab: Lab, toolchain: Toolchain
) -> None:
    """`build.target` naming the first of two stages: the image built is that stage, and
    it carries the Clawfile's own labels and the runner's provenance."""
    lab.toolchain = toolchain
    lab.release("0.5.0")
    assert lab.claw("pull", "Clawfile").returncode == 0
    lab.clawfile.write_text(
        f"FROM {lab.alias} AS agent\nCLAW_TYPE openclaw\nMODEL primary openai/gpt-4o\nRUN true\n"
        "FROM agent AS extra\nRUN touch /extra\n"
    )
    (lab.dir / "claw-pod.yml").write_text(
        f"x-claw: {{pod: {lab.pod}}}\nservices:\n  agent:\n    build: {{context: ., target: agent}}\n"
    )
    result = lab.claw("build")
    assert result.returncode == 0, result.stderr
    labels = lab.labels(f"claw-local/{lab.pod}-agent:latest")
    assert labels["claw.type"] == "openclaw"
    assert labels["claw.model.primary"] == "openai/gpt-4o"
    assert labels["claw.runner.built-against"] == f"{lab.alias}:v0.5.0"
    assert labels["org.opencontainers.image.base.name"] == f"{lab.alias}:v0.5.0"
