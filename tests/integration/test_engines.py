"""Several engines (SPEC §11), for real: two dockerds in the test namespace sharing its
registry, driven through two docker contexts; the lock on the engine between two
"hosts" (separate host-lock directories) and after a holder was killed; and one
engine driven over ssh:// to an sshd in the namespace."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from lib import runners
from lib.engine import lock
from tests.harness import engine as harness
from tests.harness import sshd, toolchains, upstream
from tests.harness.engine import Engine
from tests.integration.conftest import Gates, Lab

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def buildkit(plugins: Path, tmp_path_factory: pytest.TempPathFactory) -> toolchains.Toolchain:
    """compose v2 and BuildKit: compose v1 cannot drive a docker context."""
    config = tmp_path_factory.mktemp("engines-buildkit") / "docker-config"
    return toolchains.prepare(toolchains.BUILDKIT, config, plugins)


def context(lab: Lab, name: str, host: str) -> str:
    """A docker context in the DOCKER_CONFIG claw uses; its (test-unique) name."""
    unique = f"{name}-{lab.alias}"
    subprocess.run(
        ["docker", "context", "create", unique, "--docker", f"host={host}"],
        env=lab.environment(), check=True, capture_output=True,
    )  # fmt: skip
    return unique


def tags_on(engine: Engine, alias: str) -> dict[str, str]:
    out = upstream.docker(engine, "image", "ls", "--no-trunc", "--format", "{{.Tag}} {{.ID}}", alias)
    return dict(line.split() for line in out.splitlines() if line.strip())


def lock_containers(engine: Engine) -> list[str]:
    out = upstream.docker(
        engine, "container", "ls", "--all", "--filter", f"label={lock.LABEL}", "--format", "{{.Names}}"
    )
    return out.split()


def write_pod(lab: Lab) -> str:
    """A pod of one service built from the lab's Clawfile; the service image's ref."""
    lab.clawfile.write_text(f'FROM {lab.alias}\nCLAW_TYPE openclaw\nCMD ["sleep", "3600"]\n')
    (lab.dir / "claw-pod.yml").write_text(f"x-claw: {{pod: {lab.pod}}}\nservices:\n  agent:\n    build: .\n")
    return f"claw-local/{lab.pod}-agent:latest"


def running(engine: Engine, lab: Lab) -> list[str]:
    return upstream.docker(engine, "ps", "--quiet", "--filter", f"label=claw.pod={lab.pod}").split()


def test_pull_on_two_engines_build_on_one_up_on_both(
    lab: Lab, second: Engine, buildkit: toolchains.Toolchain
) -> None:
    lab.toolchain = buildkit
    a, b = context(lab, "a", lab.engine.host), context(lab, "b", second.host)
    service = write_pod(lab)
    lab.release("1.0.0")
    pulled = lab.claw("--context", f"{a},{b}", "pull")
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    for name in (a, b):
        assert f"[{name}] {lab.alias}: installed v1.0.0" in lines
        assert f"[{name}] ok" in lines
    assert tags_on(lab.engine, lab.alias)["v1.0.0"] == tags_on(lab.engine, lab.alias)["latest"]
    assert set(tags_on(second, lab.alias)) == {"v1.0.0", "latest"}

    built = lab.claw("build", "--context", b)
    assert built.returncode == 0, built.stderr
    assert "[" not in built.stdout, "one engine: no prefixes"
    assert upstream.docker(second, "image", "inspect", "--format", "{{.Id}}", service)
    assert not lab.exists(service)

    half = lab.claw("--context", f"{a},{b}", "up", "-d")
    assert half.returncode == 3, half.stdout + half.stderr
    assert f"[{a}] failed: pod {lab.pod} is not ready:" in half.stdout
    assert f"[{b}] ok" in half.stdout
    assert running(second, lab) == [], "no engine starts unless every engine is ready"

    both = lab.claw("build", "--context", f"{a},{b}")
    assert both.returncode == 0, both.stderr
    assert (lab.dir / f"Dockerfile.{a}.generated").is_file()
    assert (lab.dir / f"Dockerfile.{b}.generated").is_file()
    up = lab.claw("--context", f"{a},{b}", "up", "-d")
    assert up.returncode == 0, up.stderr
    assert f"[{a}] pod {lab.pod}: up (compose.generated.yml)" in up.stdout.splitlines()
    assert len(running(lab.engine, lab)) == 1
    assert len(running(second, lab)) == 1
    down = lab.claw("down", "--context", f"{a},{b}")
    assert down.returncode == 0, down.stderr
    assert running(lab.engine, lab) == running(second, lab) == []


def test_an_engine_stopped_mid_run_fails_alone(lab: Lab, engine: Engine, gates: Gates) -> None:
    doomed = harness.add_engine(engine, f"doomed-{lab.alias}")
    try:
        a, c = context(lab, "a", lab.engine.host), context(lab, "c", doomed.host)
        lab.write(gates.step(lab.engine, lab.alias))  # both engines' builds reach this gate
        held = gates.hold(lab.alias)
        lab.release("1.0.0")
        run = lab.spawn("--context", f"{a},{c}", "pull", "Clawfile", name="both")
        held.wait(2, describe=run.output, alive=run.process)  # both builds are in that step
        harness.stop_engine(doomed, kill=True)
        held.release()
        assert run.wait() == 1, run.output()
    finally:
        harness.stop_engine(doomed)
    lines = run.stdout().splitlines()
    assert f"[{a}] {lab.alias}: installed v1.0.0" in lines
    assert f"[{a}] ok" in lines
    assert any(line.startswith(f"[{c}] failed: ") for line in lines), lines
    assert f"error: 1 of 2 engines did not succeed: {c}" in run.stderr()
    assert set(lab.tags()) == {"v1.0.0", "latest"}


def test_two_hosts_refreshing_one_alias_on_one_engine_take_turns(
    lab: Lab, tmp_path: Path, gates: Gates
) -> None:
    lab.release("1.0.0")
    assert lab.claw("pull", "Clawfile").returncode == 0
    lab.write(gates.step(lab.engine, lab.alias))  # the first host builds until the second waits
    held = gates.hold(lab.alias)
    lab.release("1.1.0")
    runs = []
    for host in ("host-1", "host-2"):
        (tmp_path / host).mkdir()
        lab.env["TMPDIR"] = str(tmp_path / host)  # its own host locks: another host
        runs.append(lab.spawn("pull", "Clawfile", name=host))
        if len(runs) == 1:
            held.wait(describe=runs[0].output, alive=runs[0].process)  # it holds the engine lock
            assert lock_containers(lab.engine) == [f"claw-lock-runner-{lab.alias}"]
    runs[1].says("waiting: pid ")
    assert held.arrived() == 1, "the second host waits for the lock, not in the build"
    held.release()
    codes = [run.wait() for run in runs]
    assert codes == [0, 0], [run.output() for run in runs]
    waiting = [line for line in runs[1].stderr().splitlines() if "waiting: pid " in line]
    assert f"waiting: pid {runs[0].process.pid} on " in waiting[0]
    assert " is refreshing this runner on this engine (" in waiting[0]
    assert waiting[0].endswith(
        f"if that host is gone for good: docker rm --force claw-lock-runner-{lab.alias})"
    )
    said = f"{lab.alias}: installed v1.1.0 (was v1.0.0; recipe changed; {lab.runtime_ref} moved)"
    assert runs[0].stdout().strip() == said, runs[0].output()
    # The second asked before it got the lock; it judges the base the first built, and builds nothing.
    assert runs[1].stdout().startswith(f"{lab.alias}: up to date v1.1.0 ("), runs[1].output()
    tags = lab.tags()
    assert tags["latest"] == tags["v1.1.0"]
    assert not [tag for tag in tags if tag.startswith("claw-refresh-")]
    assert lock_containers(lab.engine) == []


def test_a_lock_left_by_a_killed_holder_is_taken_over(lab: Lab, gates: Gates) -> None:
    lab.write(gates.step(lab.engine, lab.alias))
    held = gates.hold(lab.alias)
    lab.release("1.0.0")
    holder = lab.spawn("pull", "Clawfile", name="killed")
    held.wait(describe=holder.output, alive=holder.process)  # in its build, under the lock
    assert lock_containers(lab.engine) == [f"claw-lock-runner-{lab.alias}"]
    os.killpg(holder.process.pid, signal.SIGKILL)
    holder.wait()
    held.release()
    assert lock_containers(lab.engine) == [f"claw-lock-runner-{lab.alias}"], "a killed holder cannot let go"
    lab.write()
    after = lab.claw("pull", "Clawfile")
    assert after.returncode == 0, after.stderr
    assert f"warning: {lab.alias}: took over the engine lock of pid {holder.process.pid} on " in after.stderr
    assert "): its process is gone" in after.stderr
    assert f"{lab.alias}: installed v1.0.0" in after.stdout
    assert lock_containers(lab.engine) == []
    assert not [tag for tag in lab.tags() if tag.startswith("claw-refresh-")]


def test_an_engine_over_ssh_pulls_and_builds(lab: Lab, engine: Engine, tmp_path: Path) -> None:
    try:
        server = sshd.start(engine, tmp_path / "sshd")
    except sshd.SshdUnavailable as exc:
        pytest.fail(f"the ssh engine must be tested: {exc}")
    try:
        lab.inside = True  # 127.0.0.1:PORT of sshd is inside the namespace
        lab.env["PATH"] = f"{server.bin}{os.pathsep}{os.environ['PATH']}"
        remote = context(lab, "ssh", server.url)
        lab.release("1.0.0")
        pulled = lab.claw("--context", remote, "pull", "Clawfile")
        assert pulled.returncode == 0, pulled.stderr
        assert pulled.stdout.splitlines()[0] == f"{lab.alias}: installed v1.0.0"
        built = lab.claw("--context", remote, "build", "-t", f"{lab.alias}-svc:1")
        assert built.returncode == 0, built.stderr
        assert lab.labels(f"{lab.alias}-svc:1")[runners.RUNNER_BUILT_AGAINST] == f"{lab.alias}:v1.0.0"
    finally:
        server.stop()
