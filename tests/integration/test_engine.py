"""lib.docker against the private engine and registry: every verb for real.

Assertions about docker state go through the harness's own docker calls, not
through the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib import clawfile, docker
from lib.errors import DockerTimeout, EngineUnreachable, NoSuchImage, PermanentError, TransientError
from tests.harness import upstream
from tests.harness.engine import Engine
from tests.test_clawfile import HOSTILE, as_stored

pytestmark = pytest.mark.integration

VERSION_SCRIPT = "#!/bin/sh\necho 'OpenClaw 2026.5.22 (3f2a9c1)'\n"


@pytest.fixture(scope="module")
def base(engine: Engine) -> str:
    """A local busybox image to build FROM."""
    ref = "claw-test/base:1"
    upstream.make_image(engine, ref, {"usr/local/bin/openclaw": VERSION_SCRIPT})
    return ref


def labels_of(engine: Engine, ref: str) -> dict[str, str]:
    out = upstream.docker(engine, "image", "inspect", "--format", "{{json .Config.Labels}}", ref)
    return json.loads(out) or {}


def test_engine_answers(engine: Engine) -> None:
    info = docker.check_engine()
    assert info.server_version.startswith("20.10") or info.server_version
    assert info.api_version


def test_generated_dockerfile_with_hostile_labels_builds_and_reads_back(
    engine: Engine, base: str, tmp_path: Path
) -> None:
    source = f"""\
# syntax=docker/dockerfile:1
FROM {base} AS first
CLAW_TYPE openclaw
RUN echo first > /first

# the final stage
FROM {base}
COPY --from=first /first /first
CONFIGURE echo "it's $HOME" \\ and `id`
MODEL primary openai/gpt-4o
RUN test -f /first
"""
    cf = clawfile.parse(source, "Clawfile")
    hostile = {f"claw.test.{i}": value for i, value in enumerate(HOSTILE)}
    generated = tmp_path / "Dockerfile.generated"
    generated.write_text(clawfile.emit(cf, labels={**cf.labels, **hostile}))
    lines: list[str] = []
    image_id = docker.build(tmp_path, dockerfile=generated, tag="claw-test/labelled:1", on_line=lines.append)
    assert image_id.startswith("sha256:")
    assert lines, "build output was streamed"
    stored = labels_of(engine, "claw-test/labelled:1")
    assert stored["claw.type"] == "openclaw"
    assert stored["claw.configure.0"] == 'echo "it\'s $HOME" \\ and `id`'
    assert stored["claw.model.primary"] == "openai/gpt-4o"
    for key, value in hostile.items():
        assert stored[key] == as_stored(value, "\\"), key
    assert not [k for k in stored if k not in {**cf.labels, **hostile}], "no label was injected"


def test_build_from_stdin_with_build_labels_pull_and_no_cache(engine: Engine, tmp_path: Path) -> None:
    ref = upstream.publish(engine, "runtime", "1.0")
    recipe = f"FROM {ref}\nRUN echo built > /built\n"
    image_id = docker.build(
        tmp_path,
        dockerfile_text=recipe,
        tag="claw-test/recipe:tmp",
        labels={"claw.base.recipe-sha": "sha256:abc", "claw.base.note": 'a b "c" $d'},
        pull=True,
        no_cache=True,
        attempts=2,
    )
    assert (
        upstream.docker(engine, "image", "inspect", "--format", "{{.Id}}", "claw-test/recipe:tmp") == image_id
    )
    assert labels_of(engine, "claw-test/recipe:tmp") == {
        "claw.base.recipe-sha": "sha256:abc",
        "claw.base.note": 'a b "c" $d',
    }


def test_build_target_and_args(engine: Engine, base: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base} AS one\nARG GREETING\nARG FROM_ENV\nRUN echo "$GREETING $FROM_ENV" > /msg\n'
        f"FROM {base} AS two\nRUN false\n"
    )
    docker.build(
        tmp_path,
        tag="claw-test/target:1",
        target="one",
        build_args=[("GREETING", "hi there"), ("FROM_ENV", "x")],
    )
    out = upstream.docker(engine, "run", "--rm", "claw-test/target:1", "cat", "/msg")
    assert out == "hi there x"


def test_a_failing_build_is_permanent_and_not_retried(engine: Engine, base: str, tmp_path: Path) -> None:
    echoed: list[str] = []
    docker.settings.echo = echoed.append
    with pytest.raises(PermanentError, match="returned a non-zero code: 3|exit code: 3"):
        docker.build(tmp_path, dockerfile_text=f"FROM {base}\nRUN exit 3\n", pull=False, attempts=3)
    assert sum(line.startswith("$ docker build ") for line in echoed) == 1


def test_tag_inspect_many_and_remove(engine: Engine, base: str) -> None:
    docker.tag(base, "claw-test/alias:v1")
    docker.tag(base, "claw-test/alias:latest")
    echoed: list[str] = []
    docker.settings.echo = echoed.append
    found = docker.inspect_images(
        ["claw-test/alias:v1", "claw-test/missing:1", "claw-test/alias:latest", base]
    )
    assert len(echoed) == 1, "one docker call for many refs"
    assert set(found) == {"claw-test/alias:v1", "claw-test/alias:latest", base}
    assert found["claw-test/alias:v1"].id == found[base].id
    tagged = docker.image(base)
    assert tagged is not None
    assert {"claw-test/alias:v1", "claw-test/alias:latest"} <= set(tagged.repo_tags)
    assert docker.remove_image("claw-test/alias:v1") is True
    assert docker.remove_image("claw-test/alias:v1") is False
    assert docker.image_id("claw-test/alias:v1") is None
    assert docker.image_id(base) == found[base].id, "removing a tag keeps the image"


def test_tag_of_a_missing_image(engine: Engine) -> None:
    with pytest.raises(NoSuchImage):
        docker.tag("claw-test/never:1", "claw-test/never:2")


def test_probe_runs_without_network(engine: Engine, base: str) -> None:
    assert (
        docker.run_probe(base, ["openclaw", "--version"], timeout=60).strip()
        == "OpenClaw 2026.5.22 (3f2a9c1)"
    )
    assert docker.run_probe(base, ["sh", "-c", "ip route 2>/dev/null | wc -l"], timeout=60).strip() == "0"


def test_probe_failure_and_missing_executable(engine: Engine, base: str) -> None:
    with pytest.raises(PermanentError) as failed:
        docker.run_probe(base, ["sh", "-c", "echo broken >&2; exit 4"], timeout=60)
    assert failed.value.returncode == 4
    assert failed.value.reason == "broken"
    with pytest.raises(PermanentError, match="no-such-runtime") as missing:
        docker.run_probe(base, ["no-such-runtime", "--version"], timeout=60)
    assert missing.value.returncode == 127  # tini (--init) reports it; the exit code is docker's 127


def test_probe_that_hangs_is_killed_and_removed(engine: Engine, base: str) -> None:
    with pytest.raises(DockerTimeout):
        docker.run_probe(base, ["sh", "-c", "trap '' TERM; sleep 300"], timeout=3)
    left = upstream.docker(engine, "ps", "--all", "--filter", "name=claw-probe-", "--format", "{{.Names}}")
    assert left == ""


def test_push_and_pull_through_the_registry(engine: Engine) -> None:
    ref = upstream.publish(engine, "agent", "2.0", {"etc/release": "2.0\n"})
    assert docker.image_id(ref) is None
    lines: list[str] = []
    docker.pull(ref, attempts=3, on_line=lines.append)
    assert docker.image_id(ref) is not None
    assert any("2.0" in line for line in lines)
    docker.tag(ref, f"{engine.registry}/upstream/agent:2.0-copy")
    docker.push(f"{engine.registry}/upstream/agent:2.0-copy")
    upstream.docker(engine, "image", "rm", f"{engine.registry}/upstream/agent:2.0-copy")
    docker.pull(f"{engine.registry}/upstream/agent:2.0-copy")
    assert docker.image_id(f"{engine.registry}/upstream/agent:2.0-copy") == docker.image_id(ref)


def test_manifest_unknown_fails_at_once(engine: Engine) -> None:
    echoed: list[str] = []
    docker.settings.echo = echoed.append
    with pytest.raises(PermanentError, match="manifest unknown|not found"):
        docker.pull(f"{engine.registry}/upstream/agent:does-not-exist", attempts=3)
    assert len(echoed) == 1


def test_connection_refused_is_retried_briefly(engine: Engine) -> None:
    import tenacity

    docker.settings.retry_wait = tenacity.wait_none()
    echoed: list[str] = []
    docker.settings.echo = echoed.append
    with pytest.raises(TransientError, match="connection refused"):
        docker.pull("127.0.0.1:9/upstream/agent:1", attempts=5)
    assert len(echoed) == 2


def test_engine_unreachable(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(
        EngineUnreachable, match=r"^cannot reach the Docker engine \(DOCKER_HOST=unix:///nonexistent"
    ):
        docker.check_engine()


def test_compose_up_and_down(engine: Engine, base: str, tmp_path: Path) -> None:
    compose_file = tmp_path / "compose.generated.yml"
    compose_file.write_text(
        f"services:\n  idle:\n    image: {base}\n    command: [sleep, '300']\n"
        "    labels: {claw.pod: demo, claw.service: idle}\n"
    )
    cli = docker.compose_cli()
    assert cli.argv in {("docker", "compose"), ("docker-compose",)}
    docker.compose(["up", "-d"], project="clawdemo", file=compose_file)
    running = upstream.docker(engine, "ps", "--filter", "label=claw.pod=demo", "--format", "{{.Names}}")
    assert "idle" in running
    docker.compose(["down"], project="clawdemo", file=compose_file)
    assert (
        upstream.docker(engine, "ps", "--all", "--filter", "label=claw.pod=demo", "--format", "{{.Names}}")
        == ""
    )
