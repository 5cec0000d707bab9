"""`claw up` and `claw down` on the private engine with compose: readiness, drift, --fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.harness import upstream
from tests.harness.toolchains import Toolchain
from tests.integration.conftest import ROOT, Lab

pytestmark = pytest.mark.integration

SLEEP = '["sleep", "3600"]'  # the command of the pod's registry and infra images


MODEL = 'anthropic/claude sonnet 4 "fast" $HOME \\x'  # upstream reads the rest of the line verbatim


def make_pod(lab: Lab) -> dict[str, str]:
    """A pod: `agent` built from the lab's Clawfile (uses cllama), `web` from the registry,
    written as pods for upstream are: anchors, merge keys, a multi-word MODEL."""
    web = upstream.publish(lab.engine, f"{lab.runtime}-web", "1", cmd=SLEEP)
    cllama = upstream.publish(lab.engine, f"{lab.runtime}-cllama", "v1", cmd=SLEEP)
    lab.extra_config = f'\n[infra]\ncllama = "{cllama}"\n'
    lab.write()
    lab.clawfile.write_text(
        f'FROM {lab.alias}\nCLAW_TYPE openclaw\nMODEL primary {MODEL}\nCMD ["sleep", "3600"]\n'
    )
    (lab.dir / "claw-pod.yml").write_text(f"""\
x-claw: {{pod: {lab.pod}}}
x-common: &common
  labels: {{tier: lab, owner: common}}
services:
  agent:
    <<: *common
    build: .
    x-claw: {{cllama: openai}}
  web:
    <<: *common
    image: {web}
    labels: {{tier: web}}
    volumes: ["data:/data"]
volumes:
  data: {{}}
""")
    return {"web": web, "cllama": cllama, "agent": f"claw-local/{lab.pod}-agent:latest"}


def containers(lab: Lab) -> dict[str, dict[str, Any]]:
    """claw.service label -> container config (Labels, Env, ...), for the pod's containers."""
    ids = lab.docker("ps", "--all", "--quiet", "--filter", f"label=claw.pod={lab.pod}").split()
    found = {}
    for container in ids:
        config = json.loads(lab.docker("inspect", "--format", "{{json .Config}}", container))
        found[config["Labels"]["claw.service"]] = config
    return found


def volumes(lab: Lab) -> list[str]:
    return lab.docker(
        "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={lab.pod}"
    ).split()


def ready(lab: Lab) -> None:
    lab.release("0.5.0")
    assert lab.claw("pull").returncode == 0
    result = lab.claw("build")
    assert result.returncode == 0, result.stderr


def test_up_starts_the_pod_with_labels_and_down_removes_it(lab: Lab, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain
    make_pod(lab)
    ready(lab)
    result = lab.claw("up", "-d")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pod {lab.pod}: up (compose.generated.yml)"
    found = containers(lab)
    assert set(found) == {"agent", "web", "cllama"}
    assert all(config["Labels"]["claw.pod"] == lab.pod for config in found.values())
    assert found["cllama"]["Labels"]["claw.infra"] == "cllama"
    assert "CLAW_CLLAMA_URL=http://cllama:8080" in found["agent"]["Env"]
    assert found["agent"]["Labels"]["claw.model.primary"] == MODEL  # verbatim through the build
    assert (found["agent"]["Labels"]["tier"], found["web"]["Labels"]["tier"]) == ("lab", "web")  # merged
    assert "owner" not in found["web"]["Labels"]  # a merge is shallow: web's own labels replace them
    assert found["agent"]["Labels"]["owner"] == "common"
    assert volumes(lab)
    down = lab.claw("down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == f"pod {lab.pod}: down"
    assert containers(lab) == {}
    assert volumes(lab), "volumes must survive `claw down`"
    lab.claw("up", "-d")
    running = set(containers(lab))
    slip = lab.claw("down", "-v")  # -v says more on every other verb: here it is refused
    assert slip.returncode == 2, slip.stderr
    assert "--volumes" in slip.stderr
    assert "--verbose" in slip.stderr
    assert set(containers(lab)) == running, "down -v must stop nothing"
    assert volumes(lab), "down -v must remove nothing"
    gone = lab.claw("down", "--volumes")
    assert gone.returncode == 0, gone.stderr
    assert volumes(lab) == []


@pytest.mark.parametrize(
    ("missing", "args", "remedy"),
    [
        ("web", ["up", "-f", "claw-pod.yml", "-d"], "run: claw pull -f claw-pod.yml"),
        ("cllama", ["up", "-d"], "run: claw pull"),
        ("agent", ["up", "-d"], "run: claw build"),
        ("agent+runner", ["up", "claw-pod.yml"], "run: claw up --fix -f claw-pod.yml"),
        ("web+agent", ["up", "--check", "-f", "claw-pod.yml"], "run: claw up --fix -f claw-pod.yml"),
    ],
)
def test_each_missing_image_names_its_fix_and_starts_nothing(
    lab: Lab, missing: str, args: list[str], remedy: str
) -> None:
    refs = make_pod(lab)
    ready(lab)
    if missing == "agent+runner":
        lab.docker("image", "rm", refs["agent"])
        for tag in lab.tags():
            lab.docker("image", "rm", f"{lab.alias}:{tag}")
    else:
        for name in missing.split("+"):
            lab.docker("image", "rm", refs[name])
    result = lab.claw(*args)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.rstrip().endswith(remedy)
    assert f"error: pod {lab.pod} is not ready:" in result.stderr
    assert not (lab.dir / "compose.generated.yml").exists()
    assert containers(lab) == {}


def test_drift_after_a_refresh_is_a_hint_and_nothing_is_rebuilt(lab: Lab) -> None:
    refs = make_pod(lab)
    ready(lab)
    old_base = lab.tags()["latest"]
    image_before = lab.docker("image", "inspect", "--format", "{{.Id}}", refs["agent"])
    lab.release("0.5.2")
    assert lab.claw("pull").returncode == 0
    new_base = lab.tags()["latest"]
    result = lab.claw("up", "-d")
    assert result.returncode == 0, result.stderr
    assert (
        f"agent: built against {lab.alias}:v0.5.0 (image {old_base[7:19]}), current is "
        f"{lab.alias}:v0.5.2 (image {new_base[7:19]}: {lab.runtime_ref} moved); consider running: claw build"
    ) in result.stderr.splitlines()
    assert lab.docker("image", "inspect", "--format", "{{.Id}}", refs["agent"]) == image_before
    rebuilt = lab.claw("build")
    assert rebuilt.returncode == 0, rebuilt.stderr
    again = lab.claw("up", "--check")
    assert again.returncode == 0, again.stderr
    assert "built against" not in again.stderr
    lab.claw("down")


def test_fix_on_a_fresh_host_brings_the_pod_up_in_one_command(lab: Lab, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain  # a refresh, a build and compose up, in one command
    make_pod(lab)
    lab.release("0.5.0")
    result = lab.claw("up", "-d", "--fix")
    assert result.returncode == 0, result.stderr
    assert set(containers(lab)) == {"agent", "web", "cllama"}
    assert set(lab.tags()) == {"latest", "v0.5.0"}
    lab.claw("down")


def test_check_only_checks(lab: Lab) -> None:
    make_pod(lab)
    ready(lab)
    result = lab.claw("up", "--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pod {lab.pod}: ready"
    assert not (lab.dir / "compose.generated.yml").exists()
    assert containers(lab) == {}


def test_check_costs_the_same_docker_calls_for_any_pod_size(lab: Lab) -> None:
    web = upstream.publish(lab.engine, f"{lab.runtime}-web", "1")
    counts = []
    for size in (1, 12):
        services = "".join(f"  s{i}:\n    image: {web}\n" for i in range(size))
        (lab.dir / "claw-pod.yml").write_text(f"services:\n{services}")
        lab.with_shim()
        (lab.dir / "docker-calls.log").unlink(missing_ok=True)
        result = lab.claw("up", "--check")
        assert result.returncode == 3  # web is not pulled yet
        counts.append(len(lab.calls()))
    assert counts[0] == counts[1] == 1  # one docker image inspect, which is also the engine check


def test_down_of_a_pod_that_is_not_running_says_so(lab: Lab) -> None:
    make_pod(lab)
    result = lab.claw("down", "-f", "claw-pod.yml")
    assert (result.returncode, result.stdout.strip()) == (0, f"pod {lab.pod}: not running"), result.stderr
    assert not (lab.dir / "compose.generated.yml").exists()


def test_down_stops_a_running_pod_whose_generated_file_is_gone(lab: Lab) -> None:
    make_pod(lab)
    ready(lab)
    assert lab.claw("up", "-d").returncode == 0
    (lab.dir / "compose.generated.yml").unlink()  # git clean -X, a fresh checkout
    down = lab.claw("down")
    assert (down.returncode, down.stdout.strip()) == (0, f"pod {lab.pod}: down"), down.stderr
    assert containers(lab) == {}
    again = lab.claw("down")
    assert (again.returncode, again.stdout.strip()) == (0, f"pod {lab.pod}: not running")


def running(lab: Lab) -> list[str]:
    return lab.docker("ps", "--quiet", "--filter", f"label=claw.pod={lab.pod}").split()


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_foreground_up_stops_the_pod_and_exits_130(
    lab: Lab, how: str, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain  # compose v1 and v2 each handle the signal their own way
    make_pod(lab)
    ready(lab)
    up = lab.spawn("up", name="up")
    up.wait_for(lambda: len(running(lab)) == 3, "the pod's three containers running")
    up.wait_for(lambda: "Attaching to " in up.stdout() + up.stderr(), "compose attached to their logs")
    if how == "ctrl-c":
        os.killpg(up.process.pid, signal.SIGINT)  # a terminal signals the whole foreground group
    else:
        up.process.send_signal(signal.SIGTERM)  # claw alone, as a service manager would
    assert up.wait() == 130, up.stderr()
    assert running(lab) == [], up.stderr()
    assert up.stderr().rstrip().endswith("error: interrupted")


def test_up_refuses_a_clawfile(lab: Lab) -> None:
    result = lab.claw("up", "Clawfile")
    assert result.returncode == 2
    assert "not a pod file" in result.stderr


def test_the_makefile_fragment_runs_the_cycle(lab: Lab) -> None:
    make_pod(lab)
    lab.release("0.5.0")
    (lab.dir / "Makefile").write_text(
        f"CLAW := {sys.executable} {ROOT / 'claw.py'}\ninclude {ROOT / 'claw.mk'}\n\nall: claw-pull claw-build claw-up\n"
    )

    def make(*targets: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["make", "--no-print-directory", *targets], cwd=lab.dir, env=lab.environment(),
                              capture_output=True, text=True, check=False)  # fmt: skip

    not_ready = make("claw-check")
    assert not_ready.returncode != 0
    assert "run: claw up --fix -f claw-pod.yml" in not_ready.stderr  # images to pull and to build
    done = make("all", "claw-check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(containers(lab)) == {"agent", "web", "cllama"}
    down = make("claw-down")
    assert down.returncode == 0, down.stderr
    assert containers(lab) == {}
