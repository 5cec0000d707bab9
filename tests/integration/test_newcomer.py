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


def test_a_from_slip_is_caught_before_docker_asks_a_registry(lab: Lab) -> None:
    """`FROM <alias typo>`: build refuses it (exit 2) and up --check reports it, without a
    docker build or pull of the misspelt image."""
    lab.with_shim()
    slip = lab.alias[:-1] + ("x" if lab.alias[-1] != "x" else "y")  # its last letter mistyped
    lab.clawfile.write_text(f"FROM {slip}:latest\nCLAW_TYPE openclaw\n")
    (lab.dir / "claw-pod.yml").write_text(f"x-claw: {{pod: {lab.pod}}}\nservices:\n  agent:\n    build: .\n")
    built = lab.claw("build")
    assert built.returncode == 2, built.stderr
    assert f"Clawfile:1: FROM {slip}:latest: did you mean {lab.alias}?" in built.stderr
    checked = lab.claw("up", "--check")
    assert checked.returncode == 3, checked.stderr
    finding = next(line for line in checked.stderr.splitlines() if line.startswith("  agent: "))
    assert f"Clawfile:1: FROM {slip}:latest: did you mean {lab.alias}?" in finding
    assert not [call for call in lab.calls() if " build " in f" {call} " or " pull " in f" {call} "]
    lab.clawfile.write_text(f"FROM {lab.alias}\nCLAW_TYPE openclaw\nMODLE primary openai/gpt-4o\n")
    for args in (["build"], ["up", "--check"], ["pull", "--check"]):
        refused = lab.claw(*args)
        assert refused.returncode == 2, refused.stderr
        assert "Clawfile:3: unknown instruction MODLE (did you mean MODEL?)" in refused.stderr


def test_compose_v1_drives_a_named_context_through_its_endpoint(lab: Lab) -> None:
    """The host's docker has no compose v2 plugin: `claw --context NAME up -d` runs
    docker-compose (v1) with the context's endpoint as DOCKER_HOST, whatever engine the
    environment names."""
    import subprocess

    from tests.integration.test_up import containers, make_pod, ready

    make_pod(lab)
    ready(lab)
    name = f"far-{lab.alias}"
    subprocess.run(
        ["docker", "context", "create", name, "--docker", f"host={lab.engine.env['DOCKER_HOST']}"],
        env=lab.environment(), check=True, capture_output=True,
    )  # fmt: skip
    lab.env["DOCKER_HOST"] = "unix:///nonexistent/not-this-engine.sock"
    started = lab.claw("--context", name, "up", "-d")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"pod {lab.pod}: up (compose.generated.yml)"
    del lab.env["DOCKER_HOST"]
    assert set(containers(lab)) == {"agent", "web", "cllama"}
    lab.env["DOCKER_HOST"] = "unix:///nonexistent/not-this-engine.sock"
    stopped = lab.claw("--context", name, "down")
    assert stopped.returncode == 0, stopped.stderr
    del lab.env["DOCKER_HOST"]
    assert containers(lab) == {}
