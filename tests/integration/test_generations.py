"""Generations on the private engine (SPEC §10): `claw pull --rollback` and `pin`.

The state afterwards is read through the harness's own docker calls.
"""

from __future__ import annotations

import dataclasses
import json
import signal
from pathlib import Path

import pytest

from tests.conftest import tally
from tests.harness.engine import Engine
from tests.harness.toolchains import Toolchain
from tests.integration.conftest import Lab, new_lab
from tests.integration.test_pull import installed, refresh_tags
from tests.integration.test_up import make_pod

pytestmark = pytest.mark.integration


def three_versions(lab: Lab) -> dict[str, str]:
    """v1.0.0, v2.0.0 and v3.0.0 installed in turn; version tag -> image ID."""
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        installed(lab, version)
    tags = lab.tags()
    assert tags["latest"] == tags["v3.0.0"]
    return {tag: image for tag, image in tags.items() if tag != "latest"}


@pytest.fixture(scope="module")
def built(
    engine: Engine, toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Lab, dict[str, str]]:
    """Three versions of one alias, built once per module and toolchain."""
    made = new_lab(engine, tmp_path_factory.mktemp("generations"))
    made.toolchain = toolchain
    return made, three_versions(made)


@pytest.fixture
def three(built: tuple[Lab, dict[str, str]], tmp_path: Path) -> tuple[Lab, dict[str, str]]:
    """The module's three versions as ``three_versions`` leaves them (latest at v3.0.0, no
    other tag), and a lab of the test's own (files, settings) for their alias."""
    shared, ids = built
    lab = dataclasses.replace(shared, dir=tmp_path, env={})
    lab.write()
    for tag in set(lab.tags()) - {*ids, "latest"}:
        lab.docker("image", "rm", f"{lab.alias}:{tag}")
    lab.docker("image", "tag", ids["v3.0.0"], f"{lab.alias}:latest")
    assert lab.tags() == {**ids, "latest": ids["v3.0.0"]}
    return lab, ids


def lock_held(lab: Lab) -> list[str]:
    """The engine lock's container of the alias, if it is there."""
    name = f"claw-lock-runner-{lab.alias}"
    return lab.docker(
        "container", "ls", "--all", "--filter", f"name=^{name}$", "--format", "{{.Names}}"
    ).split()


# --------------------------------------------------------------------------
# --rollback
# --------------------------------------------------------------------------


def test_rollback_moves_latest_back_one_version_with_one_docker_tag(
    three: tuple[Lab, dict[str, str]],
) -> None:
    lab, ids = three
    lab.with_shim()
    result = lab.claw("pull", "--rollback", "openclaw")  # the driver's name
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{lab.alias}: rolled back to v2.0.0 (was v3.0.0)"]
    assert lab.tags() == {**ids, "latest": ids["v2.0.0"]}
    verbs = [" ".join(call.split()[:2]) for call in lab.calls()]
    assert verbs == ["create --pull", "image ls", "image tag", "rm --force"], (
        lab.calls()
    )  # nothing built, pulled
    assert f"--name claw-lock-runner-{lab.alias} " in lab.calls()[0], "under the engine's lock"
    again = lab.claw("pull", "--rollback", lab.alias)  # the alias works too
    assert again.stdout.splitlines() == [f"{lab.alias}: rolled back to v1.0.0 (was v2.0.0)"]
    assert lab.tags()["latest"] == ids["v1.0.0"]


def test_rollback_to_a_named_tag_and_a_missing_one(three: tuple[Lab, dict[str, str]]) -> None:
    lab, ids = three
    result = lab.claw("pull", "--rollback", "openclaw:v1.0.0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{lab.alias}: rolled back to v1.0.0 (was v3.0.0)"
    assert lab.tags()["latest"] == ids["v1.0.0"]
    missing = lab.claw("pull", "--rollback", "openclaw:v0.9.0")
    assert missing.returncode == 1
    assert (
        f"{lab.alias}: rollback failed: {lab.alias}:v0.9.0 is not on this host "
        f"(versions here: v3.0.0, v2.0.0, v1.0.0); kept {lab.alias}:v1.0.0"
    ) in missing.stdout
    assert lab.tags()["latest"] == ids["v1.0.0"]


def test_rollback_with_nothing_installed_or_one_version_fails_naming_the_versions(lab: Lab) -> None:
    nothing = lab.claw("pull", "--rollback", "openclaw")
    assert nothing.returncode == 1
    assert f"nothing installed: no {lab.alias}:latest (versions here: none)" in nothing.stdout
    only = installed(lab, "1.0.0")
    one = lab.claw("pull", "--rollback", "openclaw")
    assert one.returncode == 1
    assert (
        f"{lab.alias}: rollback failed: no version older than v1.0.0 on this host (versions here: v1.0.0)"
    ) in one.stdout
    assert lab.tags() == {"latest": only, "v1.0.0": only}


def test_rollback_dry_run_and_json(three: tuple[Lab, dict[str, str]]) -> None:
    lab, ids = three
    dry = lab.claw("pull", "--rollback", "openclaw", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == f"{lab.alias}: would roll back to v2.0.0 (now v3.0.0)"
    assert lab.tags()["latest"] == ids["v3.0.0"]
    done = lab.claw("pull", "--rollback", "openclaw", "--json")
    assert done.returncode == 0, done.stderr
    (action,) = json.loads(done.stdout)["actions"]
    assert (action["status"], action["version"], action["previous_version"]) == (
        "rolled-back",
        "v2.0.0",
        "v3.0.0",
    )
    assert action["image_id"] == ids["v2.0.0"] == lab.tags()["latest"]


@pytest.mark.parametrize("first", ["refresh", "rollback"])
def test_rollback_waits_for_a_refresh_of_the_same_alias(lab: Lab, toolchain: Toolchain, first: str) -> None:
    lab.toolchain = toolchain
    ids = {"v1.0.0": installed(lab, "1.0.0")}
    lab.release("2.0.0")
    commands = {"refresh": ("pull", "Clawfile"), "rollback": ("pull", "--rollback", "openclaw:v1.0.0")}
    second = "rollback" if first == "refresh" else "refresh"
    held = lab.hold("create *claw-lock-runner-*")  # the first one holds the host's lock there
    runs = {first: lab.spawn(*commands[first], name=first)}
    held.wait(describe=runs[first].output, alive=runs[first].process)
    for key in held.env():
        lab.env.pop(key)
    runs[second] = lab.spawn(*commands[second], name=second)
    runs[second].says("waiting: another claw pull")
    held.release()
    assert [run.wait() for run in runs.values()] == [0, 0], [run.output() for run in runs.values()]
    tags = lab.tags()
    assert set(tags) == {"latest", "v1.0.0", "v2.0.0"}
    assert tags["v1.0.0"] == ids["v1.0.0"]
    assert not refresh_tags(lab)
    # Each output says what happened in that order, and latest is what the last one did.
    refreshed, rolled = runs["refresh"].stdout().strip(), runs["rollback"].stdout().strip()
    assert refreshed.startswith(f"{lab.alias}: installed v2.0.0 (was v1.0.0; "), runs["refresh"].output()
    if first == "refresh":
        assert rolled == f"{lab.alias}: rolled back to v1.0.0 (was v2.0.0)", runs["rollback"].output()
        assert tags["latest"] == tags["v1.0.0"]
    else:  # latest was v1.0.0 already, and the refresh moved it on
        assert rolled == f"{lab.alias}: already at v1.0.0", runs["rollback"].output()
        assert tags["latest"] == tags["v2.0.0"]


# Where a `pull --rollback` is stopped: the docker call the shim holds, and whether it holds it
# before the call reaches the engine or after. (A signal sent before claw's handler is installed
# lands wherever the interpreter's own start-up happens to be, a moment no test can choose.)
MOMENTS = {
    "taking the engine lock": ("create *claw-lock-runner-*", False),
    "reading the tags": ("image ls *", False),
    "the tag, not yet sent": ("image tag * *:latest", False),
    "the tag, done": ("image tag * *:latest", True),
}


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_an_interrupted_rollback_leaves_latest_exactly_as_before_or_moved_whole(
    three: tuple[Lab, dict[str, str]], how: str
) -> None:
    lab, ids = three
    before = lab.tags()
    for index, (moment, (pattern, after)) in enumerate(MOMENTS.items()):
        lab.docker("image", "tag", ids["v3.0.0"], f"{lab.alias}:latest")
        held = lab.hold(pattern, after=after)
        running = lab.spawn("pull", "--rollback", "openclaw", name=f"rollback-{how}-{index}")
        held.wait(describe=running.output, alive=running.process)
        running.process.send_signal(getattr(signal, how))
        code = running.wait()
        held.release()
        tally("interruptions")
        what = f"{moment}: {running.output()}"
        assert "Traceback" not in running.stderr(), what
        assert code == 130, what
        assert running.stderr().rstrip().endswith("error: interrupted"), what
        assert lock_held(lab) == [], what  # the lock let go on the way out
        if moment == "the tag, done":
            assert lab.tags() == {**ids, "latest": ids["v2.0.0"]}, what
        else:
            assert lab.tags() == before, what


def test_services_on_the_newer_base_get_the_drift_hint_after_a_rollback(
    lab: Lab, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    make_pod(lab)
    for version in ("1.0.0", "2.0.0"):
        lab.release(version)
        assert lab.claw("pull").returncode == 0
    assert lab.claw("build").returncode == 0
    tags = lab.tags()
    assert lab.claw("pull", "--rollback", "openclaw").returncode == 0
    check = lab.claw("up", "--check")
    assert check.returncode == 0, check.stderr
    assert (
        f"agent: {lab.alias}:latest was rolled back to v1.0.0 from v2.0.0, the base this service was "
        f"built on (image {tags['v2.0.0'][7:19]}, now image {tags['v1.0.0'][7:19]}: {lab.runtime_ref} moved); "
        "consider running: claw build"
    ) in check.stderr.splitlines()


# --------------------------------------------------------------------------
# pin
# --------------------------------------------------------------------------


def test_a_pin_holds_the_runner_for_pull_build_keep_and_up(lab: Lab, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain
    lab.inside = True  # --check asks the registry, which listens in the engine's namespace
    make_pod(lab)
    clawfile = lab.clawfile.read_text()
    for version in ("1.0.0", "2.0.0"):
        lab.release(version)
        assert lab.claw("pull").returncode == 0
    before = lab.tags()
    lab.pin, lab.keep = "v1.0.0", 1
    lab.write()
    lab.clawfile.write_text(clawfile)
    lab.release("3.0.0")

    for args in (["pull"], ["pull", "--rebuild"]):  # pull leaves it, and keep prunes nothing
        pulled = lab.claw(*args)
        assert pulled.returncode == 0, pulled.stderr
        assert f"{lab.alias}: pinned at v1.0.0" in pulled.stdout.splitlines()
        assert lab.tags() == before

    checked = lab.claw("pull", "--check", "--json")
    runner = next(a for a in json.loads(checked.stdout)["actions"] if a["kind"] == "runner")
    assert runner["status"] == "pinned"
    assert f"{lab.runtime_ref} moved" in runner["line"]  # what upstream has beyond the pin
    assert [(v["tag"], v["latest"], v["pinned"]) for v in runner["versions"]] == [
        ("v2.0.0", True, False), ("v1.0.0", False, True),
    ]  # fmt: skip
    assert checked.returncode == 0, checked.stderr  # a pull would not change a pinned runner

    built = lab.claw("build")
    assert built.returncode == 0, built.stderr
    assert f"FROM {lab.alias}:v1.0.0\n" in (lab.dir / "Dockerfile.generated").read_text()
    labels = lab.labels(f"claw-local/{lab.pod}-agent:latest")
    assert labels["claw.runner.built-against"] == f"{lab.alias}:v1.0.0"
    assert labels["claw.runner.image-id"] == before["v1.0.0"]

    up = lab.claw("up", "--check")  # drift is measured against the pin, not latest
    assert up.returncode == 0, up.stderr
    assert "built against" not in up.stderr
    listed = lab.claw("pull", "--check")
    assert f"  v1.0.0  image {before['v1.0.0'][7:19]}" in listed.stdout
    assert f"(pinned; used by claw-local/{lab.pod}-agent:latest)" in listed.stdout


def test_a_pin_to_a_tag_not_on_the_host_is_bad_input_naming_the_fix(lab: Lab) -> None:
    make_pod(lab)
    clawfile = lab.clawfile.read_text()
    installed(lab, "1.0.0")
    lab.pin = "v0.9.0"
    lab.write()
    lab.clawfile.write_text(clawfile)
    for args in (["pull"], ["build"], ["up", "--check"]):
        result = lab.claw(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert (
            f"runner openclaw: pinned at v0.9.0, but {lab.alias}:v0.9.0 is not on this host "
            "(versions here: v1.0.0)"
        ) in result.stderr, args
        assert "remove `pin` from [runners.openclaw]" in result.stderr
    assert set(lab.tags()) == {"latest", "v1.0.0"}
