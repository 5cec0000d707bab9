"""The ``Engine`` against the private engine and registry: every verb for real.

Assertions about docker state go through the harness's own docker calls, not
through the code under test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tenacity

from lib import clawfile, dockerfile
from lib.engine.docker import Engine
from lib.errors import DockerTimeout, EngineUnreachable, NoSuchImage, PermanentError, TransientError
from tests.harness import upstream
from tests.harness.dockerfile import as_stored
from tests.harness.engine import Engine as PrivateEngine
from tests.test_clawfile import HOSTILE

pytestmark = pytest.mark.integration

VERSION_SCRIPT = "#!/bin/sh\necho 'OpenClaw 2026.5.22 (3f2a9c1)'\n"


@pytest.fixture(scope="module")
def base(engine: PrivateEngine) -> str:
    """A local busybox image to build FROM."""
    ref = "claw-test/base:1"
    upstream.make_image(engine, ref, {"usr/local/bin/openclaw": VERSION_SCRIPT})
    return ref


@pytest.fixture
def docker_engine() -> Engine:
    """The code under test: the default engine, which ``DOCKER_HOST`` points at the private one."""
    return Engine()


def id_of(docker_engine: Engine, ref: str) -> str | None:
    """The ID of the image ``ref`` names, or None."""
    image = docker_engine.inspect_images([ref]).get(ref)
    return None if image is None else image.id


def labels_of(engine: PrivateEngine, ref: str) -> dict[str, str]:
    out = upstream.docker(engine, "image", "inspect", "--format", "{{json .Config.Labels}}", ref)
    return json.loads(out) or {}


def test_engine_answers(engine: PrivateEngine, docker_engine: Engine) -> None:
    info = docker_engine.check()
    assert re.match(r"^\d+\.\d+", info.client_version), info
    assert re.match(r"^\d+\.\d+", info.server_version), info
    assert re.match(r"^1\.\d+$", info.api_version), info


def test_generated_dockerfile_with_hostile_labels_builds_and_reads_back(
    engine: PrivateEngine, base: str, tmp_path: Path, docker_engine: Engine
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
    image_id = docker_engine.build(
        tmp_path, dockerfile=generated, tag="claw-test/labelled:1", on_line=lines.append
    )
    assert image_id.startswith("sha256:")
    assert lines, "build output was streamed"
    stored = labels_of(engine, "claw-test/labelled:1")
    assert stored["claw.type"] == "openclaw"
    assert stored["claw.configure.0"] == 'echo "it\'s $HOME" \\ and `id`'
    assert stored["claw.model.primary"] == "openai/gpt-4o"
    for key, value in hostile.items():
        assert stored[key] == as_stored(value, "\\"), key
    assert not [k for k in stored if k not in {**cf.labels, **hostile}], "no label was injected"


def test_build_from_stdin_with_labels_pull_and_no_cache(
    engine: PrivateEngine, tmp_path: Path, docker_engine: Engine
) -> None:
    ref = upstream.publish(engine, "runtime", "1.0")
    recipe = f"FROM {ref}\nRUN echo built > /built \\\n"  # a continuation left open at the end
    labels = {"claw.base.recipe-sha": "sha256:abc", "claw.base.note": 'a b "c" $d'}
    image_id = docker_engine.build(
        tmp_path,
        dockerfile_text=dockerfile.labelled(recipe, labels, "recipe"),
        tag="claw-test/recipe:tmp",
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


def test_build_target_and_args(
    engine: PrivateEngine, base: str, tmp_path: Path, docker_engine: Engine
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base} AS one\nARG GREETING\nARG FROM_ENV\nRUN echo "$GREETING $FROM_ENV" > /msg\n'
        f"FROM {base} AS two\nRUN false\n"
    )
    docker_engine.build(
        tmp_path,
        tag="claw-test/target:1",
        target="one",
        build_args=[("GREETING", "hi there"), ("FROM_ENV", "x")],
    )
    out = upstream.docker(engine, "run", "--rm", "claw-test/target:1", "cat", "/msg")
    assert out == "hi there x"


def test_a_failing_build_is_permanent_and_not_retried(
    engine: PrivateEngine, base: str, tmp_path: Path, docker_engine: Engine
) -> None:
    echoed: list[str] = []
    docker_engine.echo = echoed.append
    with pytest.raises(PermanentError, match="returned a non-zero code: 3|exit code: 3"):
        docker_engine.build(tmp_path, dockerfile_text=f"FROM {base}\nRUN exit 3\n", pull=False, attempts=3)
    assert sum(line.startswith("$ docker build ") for line in echoed) == 1


def test_tag_inspect_many_and_remove(engine: PrivateEngine, base: str, docker_engine: Engine) -> None:
    docker_engine.tag(base, "claw-test/alias:v1")
    docker_engine.tag(base, "claw-test/alias:latest")
    echoed: list[str] = []
    docker_engine.echo = echoed.append
    found = docker_engine.inspect_images(
        ["claw-test/alias:v1", "claw-test/missing:1", "claw-test/alias:latest", base]
    )
    assert len(echoed) == 1, "one docker call for many refs"
    assert set(found) == {"claw-test/alias:v1", "claw-test/alias:latest", base}
    assert found["claw-test/alias:v1"].id == found[base].id
    tagged = found[base]
    assert {"claw-test/alias:v1", "claw-test/alias:latest"} <= set(tagged.repo_tags)
    assert docker_engine.remove_image("claw-test/alias:v1") is True
    assert docker_engine.remove_image("claw-test/alias:v1") is False
    assert id_of(docker_engine, "claw-test/alias:v1") is None
    assert id_of(docker_engine, base) == found[base].id, "removing a tag keeps the image"


def test_tag_of_a_missing_image(engine: PrivateEngine, docker_engine: Engine) -> None:
    with pytest.raises(NoSuchImage):
        docker_engine.tag("claw-test/never:1", "claw-test/never:2")


def test_probe_runs_without_network(engine: PrivateEngine, base: str, docker_engine: Engine) -> None:
    assert (
        docker_engine.run_probe(base, ["openclaw", "--version"], timeout=60).strip()
        == "OpenClaw 2026.5.22 (3f2a9c1)"
    )
    assert (
        docker_engine.run_probe(base, ["sh", "-c", "ip route 2>/dev/null | wc -l"], timeout=60).strip() == "0"
    )


def test_probe_failure_and_missing_executable(
    engine: PrivateEngine, base: str, docker_engine: Engine
) -> None:
    with pytest.raises(PermanentError) as failed:
        docker_engine.run_probe(base, ["sh", "-c", "echo broken >&2; exit 4"], timeout=60)
    assert failed.value.returncode == 4
    assert failed.value.reason == "broken"
    with pytest.raises(PermanentError, match="no-such-runtime") as missing:
        docker_engine.run_probe(base, ["no-such-runtime", "--version"], timeout=60)
    assert missing.value.returncode == 127  # tini (--init) reports it; the exit code is docker's 127


def test_probe_that_hangs_is_killed_and_removed(
    engine: PrivateEngine, base: str, docker_engine: Engine
) -> None:
    with pytest.raises(DockerTimeout):
        docker_engine.run_probe(base, ["sh", "-c", "trap '' TERM; sleep 300"], timeout=3)
    left = upstream.docker(engine, "ps", "--all", "--filter", "name=claw-probe-", "--format", "{{.Names}}")
    assert left == ""


def test_push_and_pull_through_the_registry(engine: PrivateEngine, docker_engine: Engine) -> None:
    ref = upstream.publish(engine, "agent", "2.0", {"etc/release": "2.0\n"})
    assert id_of(docker_engine, ref) is None
    lines: list[str] = []
    docker_engine.pull(ref, attempts=3, on_line=lines.append)
    assert id_of(docker_engine, ref) is not None
    assert any("2.0" in line for line in lines)
    docker_engine.tag(ref, f"{engine.registry}/upstream/agent:2.0-copy")
    upstream.docker(engine, "push", f"{engine.registry}/upstream/agent:2.0-copy")
    upstream.docker(engine, "image", "rm", f"{engine.registry}/upstream/agent:2.0-copy")
    docker_engine.pull(f"{engine.registry}/upstream/agent:2.0-copy")
    assert id_of(docker_engine, f"{engine.registry}/upstream/agent:2.0-copy") == id_of(docker_engine, ref)


def test_manifest_unknown_fails_at_once(engine: PrivateEngine, docker_engine: Engine) -> None:
    echoed: list[str] = []
    docker_engine.echo = echoed.append
    with pytest.raises(PermanentError, match="manifest unknown|not found"):
        docker_engine.pull(f"{engine.registry}/upstream/agent:does-not-exist", attempts=3)
    assert len(echoed) == 1


def test_connection_refused_is_retried_briefly(engine: PrivateEngine) -> None:
    echoed: list[str] = []
    docker_engine = Engine(echo=echoed.append, retry_wait=tenacity.wait_none())
    with pytest.raises(TransientError, match="connection refused"):
        docker_engine.pull("127.0.0.1:9/upstream/agent:1", attempts=5)
    assert len(echoed) == 2


def test_engine_unreachable(
    engine: PrivateEngine, monkeypatch: pytest.MonkeyPatch, docker_engine: Engine
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(
        EngineUnreachable, match=r"^cannot reach the Docker engine \(DOCKER_HOST=unix:///nonexistent"
    ):
        docker_engine.check()


def test_compose_up_and_down(engine: PrivateEngine, base: str, tmp_path: Path, docker_engine: Engine) -> None:
    compose_file = tmp_path / "compose.generated.yml"
    compose_file.write_text(
        f"services:\n  idle:\n    image: {base}\n    command: [sleep, '300']\n"
        "    labels: {claw.pod: demo, claw.service: idle}\n"
    )
    cli = docker_engine.compose_cli()
    assert cli.argv in {("docker", "compose"), ("docker-compose",)}
    docker_engine.compose(["up", "-d"], project="clawdemo", file=compose_file)
    running = upstream.docker(engine, "ps", "--filter", "label=claw.pod=demo", "--format", "{{.Names}}")
    assert "idle" in running
    docker_engine.compose(["down"], project="clawdemo", file=compose_file)
    assert (
        upstream.docker(engine, "ps", "--all", "--filter", "label=claw.pod=demo", "--format", "{{.Names}}")
        == ""
    )
