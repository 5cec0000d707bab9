"""`claw build` on the private engine: the FROM rewrite, provenance labels, pods, failing closed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.harness import upstream
from tests.harness.toolchains import Toolchain
from tests.integration.conftest import Lab

pytestmark = pytest.mark.integration


def refreshed(lab: Lab, version: str) -> str:
    """Refresh the lab's runner to ``version``; return the ID of <alias>:latest."""
    lab.release(version)
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    return lab.tags()["latest"]


def provenance(lab: Lab, ref: str) -> dict[str, str]:
    return {k: v for k, v in lab.labels(ref).items() if k.startswith(("claw.runner.", "org.opencontainers"))}


def expected(lab: Lab, version: str, base_id: str) -> dict[str, str]:
    return {
        "claw.runner.driver": "openclaw",
        "claw.runner.built-against": f"{lab.alias}:{version}",
        "claw.runner.image-id": base_id,
        "claw.runner.recipe-sha": "sha256:" + hashlib.sha256(lab.recipe.read_bytes()).hexdigest(),
        "org.opencontainers.image.base.name": f"{lab.alias}:{version}",
        "org.opencontainers.image.base.digest": "",  # the runner base has no registry digest
    }


def test_build_rewrites_from_to_the_version_and_labels_the_image(lab: Lab, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain
    base = refreshed(lab, "0.5.0")
    lab.clawfile.write_text(f"FROM {lab.alias}\nCLAW_TYPE openclaw\nMODEL primary openai/gpt-4o\nRUN true\n")
    result = lab.claw("build", ".", "-t", f"{lab.alias}-agent:1")
    assert result.returncode == 0, result.stderr
    generated = (lab.dir / "Dockerfile.generated").read_text()
    assert generated.startswith(f"FROM {lab.alias}:v0.5.0\n")
    assert "CLAW_TYPE" not in generated
    assert provenance(lab, f"{lab.alias}-agent:1") == expected(lab, "v0.5.0", base)
    assert lab.labels(f"{lab.alias}-agent:1")["claw.model.primary"] == "openai/gpt-4o"
    image_id = lab.docker("image", "inspect", "--format", "{{.Id}}", f"{lab.alias}-agent:1")
    assert result.stdout.strip() == (
        f"Clawfile: built {lab.alias}-agent:1 (image {image_id[7:19]}, against {lab.alias}:v0.5.0)"
    )


@pytest.mark.parametrize(
    "source",
    [
        "FROM {reg}/upstream/{runtime}:latest AS tools\nRUN echo tool > /tool\n"
        "FROM {alias}:latest\nCOPY --from=tools /tool /tool\nCLAW_TYPE openclaw\n",
        "FROM --platform=linux/amd64 {alias}:latest AS base\nCLAW_TYPE openclaw\nFROM base\nRUN true\n",
    ],
    ids=["runner-stage-not-first", "platform"],
)
def test_multi_stage_and_platform_get_the_same_rewrite(lab: Lab, source: str) -> None:
    base = refreshed(lab, "0.5.0")
    lab.clawfile.write_text(source.format(reg=lab.engine.registry, runtime=lab.runtime, alias=lab.alias))
    result = lab.claw("build", "Clawfile", "-t", f"{lab.alias}-agent:2")
    assert result.returncode == 0, result.stderr
    generated = (lab.dir / "Dockerfile.generated").read_text()
    assert f"{lab.alias}:v0.5.0" in generated
    assert f"{lab.alias}:latest" not in generated
    assert "FROM base\n" in generated or "COPY --from=tools" in generated
    assert provenance(lab, f"{lab.alias}-agent:2") == expected(lab, "v0.5.0", base)


def test_a_pinned_from_is_kept_and_labelled_with_that_base(lab: Lab) -> None:
    old = refreshed(lab, "0.4.0")
    refreshed(lab, "0.5.0")
    lab.clawfile.write_text(f"FROM {lab.alias}:v0.4.0\nCLAW_TYPE openclaw\n")
    result = lab.claw("build", ".", "-t", f"{lab.alias}-pinned:1")
    assert result.returncode == 0, result.stderr
    assert (lab.dir / "Dockerfile.generated").read_text().startswith(f"FROM {lab.alias}:v0.4.0\n")
    assert provenance(lab, f"{lab.alias}-pinned:1") == expected(lab, "v0.4.0", old)


def test_without_a_runner_base_nothing_is_built_and_the_fix_is_named(lab: Lab) -> None:
    (lab.dir / "agents").mkdir()
    (lab.dir / "agents" / "Clawfile").write_text(f"FROM {lab.alias}\nCLAW_TYPE openclaw\n")
    result = lab.claw("build", "agents/Clawfile", "-t", f"{lab.alias}-agent:1")
    assert result.returncode == 1
    assert f"runner base not ready: {lab.alias}:latest is not on this host" in result.stderr
    assert result.stderr.rstrip().endswith("run: claw pull agents/Clawfile")
    assert not lab.tags()
    assert not lab.exists(f"{lab.alias}-agent:1")
    assert not (lab.dir / "agents" / "Dockerfile.generated").exists()


def test_a_base_without_a_version_tag_needs_a_refresh(lab: Lab) -> None:
    lab.release("1.0.0")
    lab.docker("pull", f"{lab.engine.registry}/upstream/{lab.runtime}:latest")
    lab.docker("image", "tag", f"{lab.engine.registry}/upstream/{lab.runtime}:latest", f"{lab.alias}:latest")
    write_pod(lab, "")
    result = lab.claw("build", "-f", "claw-pod.yml")
    assert result.returncode == 1
    assert f"{lab.alias}:latest has no version tag" in result.stderr
    assert result.stderr.rstrip().endswith("run: claw pull -f claw-pod.yml")


def write_pod(lab: Lab, extra: str) -> None:
    (lab.dir / "claw-pod.yml").write_text(
        f"x-claw: {{pod: lab-{lab.alias}}}\nservices:\n  agent:\n    build: .\n{extra}"
    )


def test_pod_builds_exactly_its_build_services_to_their_refs(lab: Lab) -> None:
    base = refreshed(lab, "0.5.0")
    web = upstream.publish(lab.engine, f"{lab.runtime}-web", "1")
    (lab.dir / "plain").mkdir()
    (lab.dir / "plain" / "build.Dockerfile").write_text(
        f"FROM {lab.engine.registry}/upstream/{lab.runtime}:latest AS first\n"
        'ARG FLAVOUR\nRUN echo "$FLAVOUR" > /flavour\n'
        "FROM first AS second\nRUN echo second > /stage\n"
        "FROM first AS third\nRUN echo third > /stage\n"
    )
    write_pod(
        lab,
        f"  plain:\n    build:\n      context: plain\n      dockerfile: build.Dockerfile\n"
        f"      args: {{FLAVOUR: mint}}\n      target: second\n    image: {lab.alias}-plain:1\n"
        f"  web:\n    image: {web}\n",
    )
    result = lab.claw("build")
    assert result.returncode == 0, result.stderr
    agent = f"claw-local/lab-{lab.alias}-agent:latest"
    assert [line.split(" (")[0] for line in result.stdout.splitlines()] == [
        f"agent: built {agent}",
        f"plain: built {lab.alias}-plain:1",
    ]
    assert provenance(lab, agent) == expected(lab, "v0.5.0", base)
    assert not provenance(lab, f"{lab.alias}-plain:1")
    flavour = lab.docker("run", "--rm", f"{lab.alias}-plain:1", "cat", "/flavour", "/stage")
    assert flavour.split() == ["mint", "second"]
    assert not lab.exists(web)


def test_tag_option_is_refused_for_a_pod(lab: Lab) -> None:
    write_pod(lab, "")
    result = lab.claw("build", "-f", "claw-pod.yml", "-t", "x:1")
    assert result.returncode == 2
    assert "-t names the image of one Clawfile" in result.stderr


def test_a_failing_build_step_exits_1_with_the_log(lab: Lab) -> None:
    refreshed(lab, "0.5.0")
    lab.clawfile.write_text(f"FROM {lab.alias}\nCLAW_TYPE openclaw\nRUN echo broken >&2 && exit 7\n")
    result = lab.claw("build", ".")
    assert result.returncode == 1
    assert (
        "Clawfile: build failed: The command '/bin/sh -c echo broken >&2 && exit 7' returned" in result.stderr
    )
    log = result.stderr.rstrip().rsplit("full log: ", 1)[1]
    assert "broken" in Path(log).read_text()


def test_docker_refusing_an_instruction_names_the_clawfile_line(lab: Lab) -> None:
    """An unknown instruction claw catches itself (exit 2); what only docker's parser says
    (an instruction short of arguments) is told at the Clawfile's line."""
    refreshed(lab, "0.5.0")
    lab.clawfile.write_text(
        f"# an agent\nFROM {lab.alias}\nCLAW_TYPE openclaw\nMODEL primary a/b\n\nCOPY only-one\n"
    )
    result = lab.claw("build", ".", "-t", f"{lab.alias}-typo:1")
    assert result.returncode == 1, result.stderr
    (first,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert first.startswith("error: Clawfile: build failed: Clawfile:6: "), result.stderr
    assert "COPY" in first
    assert "of Dockerfile.generated)" in first
