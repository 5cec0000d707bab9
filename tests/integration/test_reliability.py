"""Whatever happens, a runner alias that worked keeps working and nothing is half-tagged.

Faults injected at every step of the refresh (through the shim in front of the
real docker), `claw pull` interrupted and killed at several moments, many runs
at once, and the engine going away mid-command. After each: `<alias>:latest` is
the old image or the complete new one with its version tag, versioned tags are
never lost, and after the next `claw pull` no temporary tag or probe container
is left. Counts go to the reliability tally printed at the end of the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.conftest import tally
from tests.harness import engine as harness
from tests.harness import flaky, upstream
from tests.harness.toolchains import BUILDKIT, LEGACY, Toolchain
from tests.integration.conftest import ROOT, Gates, Lab, start_gates

pytestmark = pytest.mark.integration


def install(lab: Lab, version: str) -> dict[str, str]:
    lab.release(version)
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    return lab.tags()


def leftovers(lab: Lab) -> list[str]:
    tags = [tag for tag in lab.tags() if tag.startswith("claw-refresh-")]
    return tags + lab.probe_containers()


def assert_whole(lab: Lab, before: dict[str, str], new_version: str) -> None:
    """latest is the old image or the complete new one; no versioned tag lost."""
    after = lab.tags()
    for tag, image in before.items():
        if tag != "latest":
            assert tag in after, f"lost {tag}"
            assert after[tag] == image or tag == new_version
    if after["latest"] != before["latest"]:
        assert after.get(new_version) == after["latest"], after


def assert_next_pull_cleans_up(lab: Lab, version: str) -> None:
    lab.release(version)
    lab.env.pop("CLAW_SHIM_FAIL", None)
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    assert leftovers(lab) == []
    assert lab.tags()["latest"] == lab.tags()[f"v{version}"]


# --------------------------------------------------------------------------
# A failure at each step
# --------------------------------------------------------------------------

STEPS = {
    "build": "build *",
    "probe": "run *",
    "version tag": "image tag * *:v2.0.0",
    "latest tag": "image tag * *:latest",
    "temporary tag removal": "image rm *:claw-refresh-*",
}


# Each step on the legacy builder; the build, whose words and mechanics differ, on BuildKit too.
FAILURES = [(step, LEGACY) for step in STEPS] + [("build", BUILDKIT)]


@pytest.mark.parametrize(("step", "toolchain"), FAILURES, indirect=["toolchain"])
def test_a_failure_at_each_step(lab: Lab, step: str, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain
    before = install(lab, "1.0.0")
    lab.release("2.0.0")
    lab.with_shim(CLAW_SHIM_FAIL=STEPS[step], CLAW_SHIM_MESSAGE="Error response from daemon: injected")
    result = lab.claw("pull", "Clawfile")
    tally("faults injected")
    assert "Traceback" not in result.stderr
    if step == "temporary tag removal":  # the refresh itself succeeded; the tag goes next time
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1, result.stdout
        assert lab.tags() == before
        assert f"; kept {lab.alias}:v1.0.0" in result.stdout
    assert_whole(lab, before, "v2.0.0")
    assert_next_pull_cleans_up(lab, "3.0.0")


# --------------------------------------------------------------------------
# Interruptions
# --------------------------------------------------------------------------


def in_probe(lab: Lab) -> bool:
    return bool(lab.docker("ps", "--quiet", "--filter", f"label=claw.probe={lab.alias}"))


INTERRUPTIONS = [(moment, how) for moment in ("start", "build", "probe") for how in ("SIGINT", "SIGKILL")] + [
    ("build", "SIGTERM")
]
# Every moment on the legacy builder; the build, which BuildKit runs its own way, on BuildKit too.
INTERRUPTED = [(*case, LEGACY) for case in INTERRUPTIONS] + [
    ("build", how, BUILDKIT) for how in ("SIGINT", "SIGKILL", "SIGTERM")
]


@pytest.mark.parametrize(("moment", "how", "toolchain"), INTERRUPTED, indirect=["toolchain"])
def test_interrupted_or_killed_at_any_moment(
    lab: Lab, gates: Gates, moment: str, how: str, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    before = install(lab, "1.0.0")
    held = gates.hold(lab.alias)
    if moment == "probe":
        lab.release(script="#!/bin/sh\nsleep 30\necho 'OpenClaw 2.0.0'\n")
    else:  # a step the test holds: the pull cannot be over before the signal lands
        lab.write(recipe_extra=gates.step(lab.engine, lab.alias))
        lab.release("2.0.0")
    run = lab.spawn("pull", "Clawfile", name=f"{moment}-{how}")
    if moment == "build":
        held.wait(describe=run.output, alive=run.process)
    elif moment == "probe":
        run.wait_for(lambda: in_probe(lab), "the probe")
    else:
        run.says("building")
    if how == "SIGKILL":
        os.killpg(run.process.pid, signal.SIGKILL)  # claw and its docker children, as a supervisor would
        run.wait()
    else:
        run.process.send_signal(getattr(signal, how))
        assert run.wait() == 130, run.stdout() + run.stderr()
        assert run.stderr().rstrip().endswith("error: interrupted")
        assert "Traceback" not in run.stderr()
        assert leftovers(lab) == []  # claw cleaned up on its way out
    held.release()
    tally("interruptions")
    assert_whole(lab, before, "v2.0.0")
    lab.write()
    assert_next_pull_cleans_up(lab, "3.0.0")


def test_interrupted_while_waiting_for_another_refresh(lab: Lab, gates: Gates) -> None:
    before = install(lab, "1.0.0")
    lab.write(recipe_extra=gates.step(lab.engine, lab.alias))
    held = gates.hold(lab.alias)
    lab.release("2.0.0")
    first = lab.spawn("pull", "Clawfile", name="first")
    held.wait(describe=first.output, alive=first.process)
    second = lab.spawn("pull", "Clawfile", name="second")
    second.says("waiting: another claw pull")
    second.process.send_signal(signal.SIGINT)
    assert second.wait() == 130, second.stdout() + second.stderr()
    first.process.send_signal(signal.SIGINT)
    assert first.wait() == 130, first.stdout() + first.stderr()
    held.release()
    tally("interruptions", 2)
    assert lab.tags() == before
    assert leftovers(lab) == []


# --------------------------------------------------------------------------
# Many at once
# --------------------------------------------------------------------------


def test_parallel_pulls_of_one_alias(lab: Lab) -> None:
    install(lab, "1.0.0")
    lab.release("1.1.0")
    runs = [lab.spawn("pull", "Clawfile", name=f"same-{i}") for i in range(4)]
    assert [run.wait() for run in runs] == [0, 0, 0, 0], [run.stderr() for run in runs]
    tally("concurrent runs", len(runs))
    lines = sorted(run.stdout().strip() for run in runs)
    assert lines[0] == f"{lab.alias}: installed v1.1.0 (was v1.0.0; {lab.runtime_ref} moved)"
    # The others asked before they got the lock: each judges the base just built, and builds nothing.
    assert all(line.startswith(f"{lab.alias}: up to date v1.1.0 (") for line in lines[1:]), lines
    tags = lab.tags()
    assert set(tags) == {"latest", "v1.1.0", "v1.0.0"}
    assert tags["latest"] == tags["v1.1.0"]
    assert leftovers(lab) == []


def test_parallel_pulls_of_different_aliases(lab: Lab) -> None:
    lab.release("1.0.0")
    (lab.dir / "nanobot.Dockerfile").write_text(lab.recipe.read_text())
    lab.config.write_text(
        lab.config.read_text()
        + f'\n[runners.nanobot]\nalias = "{lab.alias}-nb"\nrecipe = "nanobot.Dockerfile"\nprobe = ["openclaw", "--version"]\n'
    )
    (lab.dir / "nb").mkdir()
    (lab.dir / "nb" / "Clawfile").write_text(f"FROM {lab.alias}-nb\nCLAW_TYPE nanobot\n")
    runs = [lab.spawn("pull", target, name=f"alias-{i}") for i, target in enumerate(["Clawfile", "nb"] * 2)]
    assert [run.wait() for run in runs] == [0] * 4, [run.stderr() for run in runs]
    tally("concurrent runs", len(runs))
    for alias in (lab.alias, f"{lab.alias}-nb"):
        tags = lab.tags(alias)
        assert set(tags) == {"latest", "v1.0.0"}, alias
        assert tags["latest"] == tags["v1.0.0"]


def test_parallel_builds_of_one_pod(lab: Lab) -> None:
    install(lab, "1.0.0")
    (lab.dir / "claw-pod.yml").write_text(f"x-claw: {{pod: {lab.pod}}}\nservices:\n  agent:\n    build: .\n")
    runs = [lab.spawn("build", name=f"build-{i}") for i in range(3)]
    assert [run.wait() for run in runs] == [0, 0, 0], [run.stderr() for run in runs]
    tally("concurrent runs", len(runs))
    assert (lab.dir / "Dockerfile.generated").read_text().startswith(f"FROM {lab.alias}:v1.0.0\n")
    assert not [p for p in lab.dir.iterdir() if p.name.startswith(".Dockerfile.generated")]
    labels = lab.labels(f"claw-local/{lab.pod}-agent:latest")
    assert labels["claw.runner.built-against"] == f"{lab.alias}:v1.0.0"


# --------------------------------------------------------------------------
# The engine goes away
# --------------------------------------------------------------------------


def test_engine_stopped_in_the_middle_of_a_refresh(lab: Lab) -> None:
    doomed = harness.start()
    gates = start_gates(doomed, lab.dir / "doomed-gates")
    try:
        runtime = upstream.publish(
            doomed, "runtime", "latest", {"usr/local/bin/openclaw": "#!/bin/sh\necho 1.0\n"}
        )
        held = gates.hold("doomed")
        lab.recipe.write_text(f"FROM {runtime}\n{gates.step(doomed, 'doomed')}")
        env = {**lab.environment(), **doomed.env}
        with (lab.dir / "doomed.err").open("w") as err:
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "claw.py"), "pull", "Clawfile"],
                cwd=lab.dir, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
        held.wait(describe=lambda: (lab.dir / "doomed.err").read_text(), alive=process)  # in the build
    finally:
        harness.stop(doomed.root)
        gates.world.stop()
    out, _ = process.communicate(timeout=120)
    tally("engine faults")
    err_text = (lab.dir / "doomed.err").read_text()
    assert process.returncode == 1, out + err_text
    assert "Traceback" not in err_text
    assert "unexpected error" not in err_text
    last = err_text.rstrip().splitlines()[-1]
    if out:  # the build's own failure came first: the refresh failed
        assert out.startswith(f"{lab.alias}: refresh failed: "), out + err_text
        assert last == "error: 1 of 1 pull actions did not succeed", err_text
    else:  # docker first said the connection dropped; trying again found no engine: the run ends
        assert last.startswith("error: cannot reach the Docker engine ("), err_text


# --------------------------------------------------------------------------
# The registry going wrong
# --------------------------------------------------------------------------

TRANSIENT = {
    "502 twice": ["502", "502"],  # HEAD and GET of one attempt: the daemon tries both
    "503, then a reset": ["503", "503", "reset"],
    "cut-off answers": ["cut", "cut"],
    "a reset": ["reset"],
    "a slow answer": ["slow"],
}


@pytest.mark.parametrize("what", ["pull", "refresh"])  # a pod image; a refresh's FROM image
@pytest.mark.parametrize("plan", list(TRANSIENT))
def test_transient_registry_trouble_is_retried_to_success(
    lab: Lab, proxied: Callable[[list[str]], flaky.Flaky], plan: str, what: str
) -> None:
    lab.release("1.0.0")
    proxy = proxied(TRANSIENT[plan])
    if what == "pull":
        image = f"{proxy.address}/upstream/{lab.runtime}:latest"
        (lab.dir / "claw-pod.yml").write_text(f"services:\n  web:\n    image: {image}\n")
        result = lab.claw("pull", "--no-runners")
        expected = f"web: pulled {image}"
    else:
        result = lab.claw("pull", "Clawfile")
        expected = f"{lab.alias}: installed v1.0.0"
    tally("faults injected", len(TRANSIENT[plan]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == expected
    failed_attempts = result.stderr.count("retrying in")
    assert failed_attempts <= 2
    assert (failed_attempts == 0) == (plan == "a slow answer"), result.stderr
    assert [line.split()[-1] for line in proxy.requests() if "/manifests/" in line][
        : len(TRANSIENT[plan])
    ] == [*TRANSIENT[plan]]


@pytest.mark.parametrize(
    ("status", "words"), [("429", "toomanyrequests"), ("401", "unauthorized"), ("403", "denied")]
)
def test_refusals_are_never_retried_and_stop_the_rest(
    lab: Lab, proxied: Callable[[list[str]], flaky.Flaky], status: str, words: str
) -> None:
    proxy = proxied([status, status])
    first = upstream.publish(lab.engine, f"{lab.runtime}-a", "1").replace(lab.engine.registry, proxy.address)
    second = upstream.publish(lab.engine, f"{lab.runtime}-b", "1").replace(lab.engine.registry, proxy.address)
    lab.release("1.0.0")
    lab.config.write_text(lab.config.read_text().replace("[pull]\n", "[pull]\njobs = 1\n"))
    (lab.dir / "claw-pod.yml").write_text(
        f"services:\n  a:\n    image: {first}\n  b:\n    image: {second}\n  agent:\n    build: .\n"
    )
    result = lab.claw("pull")
    tally("faults injected", 2)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("a: pull failed: ")
    assert words in lines[0]
    assert lines[1].startswith("b: not attempted: the registry refused an earlier request")
    assert lines[2].startswith(f"{lab.alias}: not attempted: ")
    assert "retrying" not in result.stderr
    assert "hint: log in to the registry with `docker login`" in result.stderr
    assert len([line for line in proxy.requests() if "/manifests/" in line]) == 2  # one attempt, HEAD and GET
