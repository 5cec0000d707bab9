"""Behaviours the unit tests prove on the in-memory engine, once each on the real one:
the engine lock's release and takeover, livecheck's reasons, rollback's order, a build
from what livecheck pulled, and Ctrl-C on one engine stopping only its own children.

Every moment a test chooses is an event (a line in a log, a held docker call), never
a delay; each timeout is a safety net that fails loudly with claw's output.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lib.engine import lock
from tests.harness import shim, upstream
from tests.harness.engine import Engine
from tests.harness.toolchains import Toolchain
from tests.harness.waiting import wait_for
from tests.integration.conftest import Lab, Running, version_script
from tests.integration.test_engines import context, lock_containers, tags_on

pytestmark = pytest.mark.integration

# Printed by a RUN step only when it runs: the Dockerfile line shows `$((6 * 7))`, not 42.
STARTED = "claw-test-42-started"
SLOW_STEP = "RUN echo claw-test-$((6 * 7))-started && sleep 600\n"


def output(run: Running) -> str:
    return f"--- stdout\n{run.stdout()}--- stderr\n{run.stderr()}"


def refresh_log_says(lab: Lab, run: Running, text: str) -> bool:
    logs = lab.dir / "state" / "claw" / "logs"
    return any(text in log.read_text() for log in logs.glob(f"refresh-*-{run.process.pid}.log"))


@pytest.fixture
def spawned(lab: Lab) -> Iterator[Callable[..., Running]]:
    """``lab.spawn``, each run killed with its children at teardown if a failed test left it."""
    runs: list[Running] = []

    def spawn(*args: str, name: str) -> Running:
        runs.append(lab.spawn(*args, name=name))
        return runs[-1]

    yield spawn
    for run in runs:
        if run.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait(timeout=60)


def finished(run: Running, timeout: float = 120) -> int:
    """Its exit status, once it has ended (the timeout is a safety net)."""
    try:
        return run.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(run.process.pid, signal.SIGKILL)
        pytest.fail(f"claw did not end within {timeout:g}s (a safety net):\n{output(run)}")


def holding(lab: Lab, pattern: str) -> shim.Hold:
    """claw's docker calls go through the recording shim, which holds those matching
    ``pattern`` until released, for the claw processes started from now on."""
    held = shim.Hold(lab.dir / "held", pattern)
    lab.with_shim(**held.env())
    return held


def still_held(held: shim.Hold) -> bool:
    """A held call is waiting now: its marker is there and its process alive."""
    pids = [int(marker.name.rpartition(".")[2]) for marker in held.directory.glob("held.*")]
    return bool(pids) and not (held.directory / "released").exists() and all(map(alive, pids))


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def group_members(pgid: int) -> list[str]:
    """The live processes of process group ``pgid``, as ``pid command line``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(f"{entry.name} {command.strip()}")
    return found


# --------------------------------------------------------------------------
# The engine lock
# --------------------------------------------------------------------------


def this_place() -> str:
    """Where a pid names a process claw can look at: this boot, this pid namespace."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return f"{boot}/{os.readlink('/proc/self/ns/pid')}"


def unused_pid() -> int:
    """A pid no process has on this host now."""
    top = int(Path("/proc/sys/kernel/pid_max").read_text())
    return next(pid for pid in range(top - 1, 300, -1) if not Path(f"/proc/{pid}").exists())


def test_the_engine_lock_is_released_by_id_and_a_dead_owners_lock_taken_over(
    lab: Lab, spawned: Callable[..., Running]
) -> None:
    name = f"claw-lock-runner-{lab.alias}"
    lab.with_shim()
    lab.release("1.0.0")
    first = lab.claw("pull", "Clawfile")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines() == [f"{lab.alias}: installed v1.0.0"]
    calls = lab.calls()
    created = [call for call in calls if call.startswith("create ") and f"--name {name} " in call]
    assert created, calls  # the refresh ran under the engine's lock (tried again after importing its image)
    removed = [call.split()[-1] for call in calls if call.startswith("rm --force ")]
    assert len(removed) == 1, calls
    assert re.fullmatch(r"[0-9a-f]{64}", removed[0]), calls  # by its ID, never by its name
    assert lock_containers(lab.engine) == [], "the lock went with the refresh"

    dead, since = unused_pid(), float(int(time.time()) - 60)  # recent: gone, not stale by age
    image = f"{lab.alias}-lock:1"
    upstream.make_image(lab.engine, image)
    lab.docker(
        "create", "--name", name,
        "--label", f"{lock.LABEL}=runner-{lab.alias}",
        "--label", f"{lock.LABEL}.host={socket.gethostname()}",
        "--label", f"{lock.LABEL}.pid={dead}",
        "--label", f"{lock.LABEL}.started=4242",
        "--label", f"{lock.LABEL}.place={this_place()}",
        "--label", f"{lock.LABEL}.since={since:.3f}",
        image, "true",
    )  # fmt: skip
    assert lock_containers(lab.engine) == [name]
    lab.release("2.0.0")
    taken = spawned("pull", "Clawfile", name="taken")

    def ended_or_waiting() -> bool:
        return taken.process.poll() is not None or "waiting: pid " in taken.stderr()

    wait_for(ended_or_waiting, describe=lambda: output(taken))
    assert "waiting: pid " not in taken.stderr(), "it waits for an owner that is gone:\n" + output(taken)
    assert finished(taken) == 0, output(taken)
    assert taken.stdout().splitlines() == [
        f"{lab.alias}: installed v2.0.0 (was v1.0.0; {lab.runtime_ref} moved)"
    ], output(taken)
    assert (
        f"warning: {lab.alias}: took over the engine lock of pid {dead} on {socket.gethostname()} "
        f"(since {datetime.datetime.fromtimestamp(since, datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC): "
        "its process is gone"
    ) in taken.stderr().splitlines(), output(taken)
    assert lock_containers(lab.engine) == [], "the lock taken over was released in turn"
    tags = lab.tags()
    assert tags["latest"] == tags["v2.0.0"] != tags["v1.0.0"]


# --------------------------------------------------------------------------
# Livecheck's reasons
# --------------------------------------------------------------------------


def test_livecheck_reasons_no_record_recipe_changed_and_older_than_max_age(lab: Lab) -> None:
    lab.extra_config = 'max_age = "1h"\n'
    lab.write()
    lab.release("1.0.0")
    by_hand = upstream.docker(
        lab.engine, "build", "-q", "-t", f"{lab.alias}:v1.0.0", "-t", f"{lab.alias}:latest", "-",
        stdin=lab.recipe.read_bytes(),
    )  # fmt: skip
    assert by_hand == lab.tags()["latest"] == lab.tags()["v1.0.0"]
    assert "claw.base.recipe-sha" not in lab.labels(f"{lab.alias}:latest")

    def rebuilt(why: str) -> str:
        was = lab.tags()["latest"]
        result = lab.claw("pull", "Clawfile")
        assert result.returncode == 0, result.stdout + result.stderr
        now = lab.tags()["latest"]
        assert result.stdout.splitlines() == [
            f"{lab.alias}: rebuilt v1.0.0 (same version; {why}; image {now[7:19]}, was {was[7:19]})"
        ], result.stderr
        assert now != was
        assert lab.tags()["v1.0.0"] == now
        return now

    recorded = rebuilt("no record: built by an older claw")
    assert lab.labels(recorded)["claw.base.recipe-sha"].startswith("sha256:")

    lab.write("LABEL org.example.note=changed\n")
    rebuilt("recipe changed")

    labels = lab.labels(f"{lab.alias}:latest")
    old = upstream.docker(
        lab.engine, "build", "-q", "-t", f"{lab.alias}:v1.0.0", "-t", f"{lab.alias}:latest",
        "--label", "claw.base.refreshed-at=2020-01-01T00:00:00Z", "-",
        stdin=f"FROM {lab.alias}:latest\n".encode(),
    )  # fmt: skip
    aged = lab.labels(old)
    assert aged["claw.base.refreshed-at"] == "2020-01-01T00:00:00Z"
    assert {k: v for k, v in aged.items() if k != "claw.base.refreshed-at"} == {
        k: v for k, v in labels.items() if k != "claw.base.refreshed-at"
    }, "only the refresh time differs from what claw recorded"
    rebuilt("older than 1h")


# --------------------------------------------------------------------------
# Rollback order
# --------------------------------------------------------------------------


def load_image(lab: Lab, ref: str, created: str) -> str:
    """``docker load`` an image created at ``created`` (RFC 3339), tagged ``ref``; its ID."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = f"{ref}\n".encode()
        info = tarfile.TarInfo("etc/claw-test-version")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    blob = layer.getvalue()
    config = {
        "architecture": lab.docker("version", "--format", "{{.Server.Arch}}"),
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["/bin/sh"], "Labels": {"claw.base.driver": "openclaw"}},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(blob).hexdigest()}"]},
        "history": [{"created": created, "created_by": "claw test"}],
    }
    manifest = [{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer.tar"]}]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, body in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("config.json", json.dumps(config).encode()),
            ("layer.tar", blob),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    upstream.docker(lab.engine, "load", "--quiet", stdin=archive.getvalue())
    return lab.docker("image", "inspect", "--format", "{{.Id}}", ref)


def test_rollback_follows_creation_order_when_version_order_disagrees(lab: Lab) -> None:
    # v1.5.0 was made after v2.0.0 (a fix on the old line, say): newer by creation.
    ids = {
        "v2.0.0": load_image(lab, f"{lab.alias}:v2.0.0", "2026-01-01T00:00:00Z"),
        "v1.5.0": load_image(lab, f"{lab.alias}:v1.5.0", "2026-02-01T00:00:00Z"),
        "v3.0.0": load_image(lab, f"{lab.alias}:v3.0.0", "2026-03-01T00:00:00Z"),
    }
    assert len(set(ids.values())) == 3
    lab.docker("image", "tag", ids["v3.0.0"], f"{lab.alias}:latest")

    def rollback() -> list[str]:
        result = lab.claw("pull", "--rollback", "openclaw")
        assert result.returncode in (0, 1), result.stdout + result.stderr
        return result.stdout.splitlines()

    assert rollback() == [f"{lab.alias}: rolled back to v1.5.0 (was v3.0.0)"]
    assert lab.tags() == {**ids, "latest": ids["v1.5.0"]}
    assert rollback() == [f"{lab.alias}: rolled back to v2.0.0 (was v1.5.0)"]
    assert lab.tags() == {**ids, "latest": ids["v2.0.0"]}
    assert rollback() == [
        f"{lab.alias}: rollback failed: no version older than v2.0.0 on this host "
        f"(versions here: v3.0.0, v1.5.0, v2.0.0); kept {lab.alias}:v2.0.0"
    ]
    assert lab.tags() == {**ids, "latest": ids["v2.0.0"]}


# --------------------------------------------------------------------------
# Ctrl-C on one engine
# --------------------------------------------------------------------------


def test_ctrl_c_of_the_run_on_one_engine_stops_only_its_own_children(
    lab: Lab, second: Engine, spawned: Callable[..., Running]
) -> None:
    other = context(lab, "other", second.host)
    lab.release("1.0.0")
    lab.write(SLOW_STEP)
    stopped = spawned("pull", "Clawfile", name="stopped")  # the lab's engine

    def slow_step_runs() -> bool:
        return refresh_log_says(lab, stopped, STARTED)

    wait_for(slow_step_runs, describe=lambda: output(stopped), alive=stopped.process)
    builds = group_members(stopped.process.pid)
    assert any(" build " in member for member in builds), builds

    lab.write()  # the other run's recipe has no slow step
    held = holding(lab, f"--context {other} build *")
    going = spawned("--context", other, "pull", "Clawfile", name="going")
    held.wait(describe=lambda: output(going), alive=going.process)

    stopped.process.send_signal(signal.SIGINT)
    assert finished(stopped) == 130, output(stopped)
    assert group_members(stopped.process.pid) == [], "its docker build went with it"
    assert still_held(held), "the other engine's build call was left alone"
    assert going.process.poll() is None, output(going)
    assert lab.tags() == {}
    assert lock_containers(lab.engine) == []

    held.release()
    assert finished(going) == 0, output(going)
    assert going.stdout().splitlines() == [f"{lab.alias}: installed v1.0.0"], output(going)
    tags = tags_on(second, lab.alias)
    assert set(tags) == {"latest", "v1.0.0"}
    assert tags["latest"] == tags["v1.0.0"]
    assert lock_containers(second) == []
    assert lab.tags() == {}, "nothing of the other run reached the lab's engine"


# --------------------------------------------------------------------------
# A refresh builds from what livecheck pulled
# --------------------------------------------------------------------------


def repo_digest(lab: Lab, ref: str) -> str:
    return lab.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", ref).split("@", 1)[1]


def layers(lab: Lab, ref: str) -> list[str]:
    return list(json.loads(lab.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref)))


def test_the_build_uses_the_from_image_livecheck_pulled_though_the_registry_moved(
    lab: Lab, toolchain: Toolchain, spawned: Callable[..., Running]
) -> None:
    lab.toolchain = toolchain
    lab.release("1.0.0")
    held = holding(lab, "build *")
    run = spawned("pull", "Clawfile", name="held")
    held.wait(describe=lambda: output(run), alive=run.process)  # livecheck pulled; the build waits
    pulled, digest = (
        lab.docker("image", "inspect", "--format", "{{.Id}}", lab.runtime_ref),
        repo_digest(lab, lab.runtime_ref),
    )

    # The registry's tag moves now: a build that asked the registry again would get 2.0.0.
    upstream.make_image(lab.engine, lab.runtime_ref, {"usr/local/bin/openclaw": version_script("2.0.0")})
    lab.docker("push", lab.runtime_ref)
    moved = repo_digest(lab, lab.runtime_ref)
    assert moved != digest
    lab.docker("image", "tag", pulled, lab.runtime_ref)  # the host keeps what livecheck pulled
    assert lab.docker("image", "inspect", "--format", "{{.Id}}", lab.runtime_ref) == pulled

    held.release()
    assert finished(run) == 0, output(run)
    assert run.stdout().splitlines() == [f"{lab.alias}: installed v1.0.0"], output(run)
    builds = [call.split() for call in lab.calls() if call.startswith("build ")]
    assert len(builds) == 1, lab.calls()
    assert "--pull" not in builds[0], builds[0]
    labels = lab.labels(f"{lab.alias}:latest")
    assert labels["claw.base.from.0"] == f"{lab.runtime_ref}@{digest}"
    assert labels["org.opencontainers.image.base.digest"] == digest
    base, old = layers(lab, f"{lab.alias}:latest"), layers(lab, pulled)
    assert base[: len(old)] == old, "built on the image livecheck pulled"
