"""Livecheck on the private engine: real FROM digests, npm/PyPI/git stand-ins, `pull --check`.

claw runs inside the engine's network namespace here (``lab.inside``), where the
registry and the stand-ins for npm, PyPI and a git server listen.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import standins, upstream
from tests.harness.standins import StandIns
from tests.integration.conftest import Lab

pytestmark = pytest.mark.integration


@pytest.fixture
def world(lab: Lab, tmp_path: Path) -> Iterator[StandIns]:
    started = standins.start(lab.engine.nsenter(), tmp_path / "world")
    lab.inside = True
    lab.extra_config = f'\n[livecheck]\nnpm = "{started.url}"\npypi = "{started.url}"\n'
    lab.write()
    yield started
    started.stop()


def follow(lab: Lab, upstream: str) -> None:
    lab.upstream = f'["{upstream}"]'
    lab.write()


def pull(lab: Lab, *args: str) -> str:
    result = lab.claw("pull", "Clawfile", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_npm_release_rebuilds_and_nothing_new_is_up_to_date(lab: Lab, world: StandIns) -> None:
    world.npm("openclaw", "2026.5.22")
    follow(lab, "npm:openclaw")
    lab.release("2026.5.22")
    assert pull(lab) == f"{lab.alias}: installed v2026.5.22"
    labels = lab.labels(f"{lab.alias}:latest")
    assert labels["claw.base.upstream.0"] == "npm:openclaw@2026.5.22"
    digest = lab.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", lab.runtime_ref)
    assert labels["claw.base.from.0"] == lab.runtime_ref + "@" + digest.split("@", 1)[1]
    assert labels["org.opencontainers.image.base.name"] == lab.runtime_ref  # the FROM as written, tag kept
    assert labels["org.opencontainers.image.base.digest"] == digest.split("@", 1)[1]
    before = lab.tags()
    started = time.time()
    line = pull(lab)
    said = f"{lab.alias}: up to date v2026.5.22 (npm:openclaw 2026.5.22; {lab.runtime_ref} unchanged; "
    assert line in [f"{said}{age})" for age in lab.refreshed_ago(started, time.time())]
    assert lab.tags() == before
    world.npm("openclaw", "2026.5.24")
    line = pull(lab)
    assert line.startswith(
        f"{lab.alias}: rebuilt v2026.5.22 (same version; npm:openclaw 2026.5.22 → 2026.5.24;"
    )
    assert lab.labels(f"{lab.alias}:latest")["claw.base.upstream.0"] == "npm:openclaw@2026.5.24"


def test_pypi_and_git_upstreams(lab: Lab, world: StandIns) -> None:
    repo, tools = world.repo("agent"), world.repo("tools")  # one ARG per repository name (SPEC §12.1)
    first = repo.commit("main")
    world.pypi("nanobot-ai", "0.1.4.post3")
    lab.upstream = f'["pypi:nanobot-ai", "git:{repo.url}", "git:{tools.url}#dev"]'
    tools.commit("dev")
    lab.write()
    lab.release("1.0.0")
    pull(lab)
    labels = lab.labels(f"{lab.alias}:latest")
    assert labels["claw.base.upstream.0"] == "pypi:nanobot-ai@0.1.4.post3"
    assert labels["claw.base.upstream.1"] == f"git:{repo.url}#HEAD@{first}"
    assert labels["claw.base.upstream.2"] == f"git:{tools.url}#dev@{tools.sha('dev')}"
    assert "up to date" in pull(lab)
    second = repo.commit("main")
    line = pull(lab)
    assert f"git:{repo.url} {first[:12]} → {second[:12]}" in line
    assert "rebuilt v1.0.0 (same version;" in line


def test_check_exit_codes_and_no_layers_downloaded(lab: Lab, world: StandIns) -> None:
    world.npm("openclaw", "1.0.0")
    follow(lab, "npm:openclaw")
    lab.release("1.0.0")
    pull(lab)
    current = lab.claw("pull", "Clawfile", "--check")
    line, *versions = current.stdout.splitlines()
    assert (current.returncode, line) == (0, f"{lab.alias}: up to date v1.0.0")
    image = lab.tags()["v1.0.0"]
    assert [v.split("  created ")[0] for v in versions] == [f"  v1.0.0  image {image[7:19]}"]  # the host's
    assert versions[0].endswith(" (latest)")
    lab.release("1.0.1")
    images = set(lab.docker("image", "ls", "--all", "--quiet", "--no-trunc").split())
    behind = lab.claw("pull", "Clawfile", "--check")
    assert behind.returncode == 3, behind.stderr
    assert behind.stdout.splitlines()[0] == f"{lab.alias}: behind: {lab.runtime_ref} moved"
    assert behind.stderr.rstrip().endswith("run: claw pull Clawfile")
    assert (
        set(lab.docker("image", "ls", "--all", "--quiet", "--no-trunc").split()) == images
    )  # nothing pulled
    world.fault("npm:openclaw", status=503)
    failed = lab.claw("pull", "Clawfile", "--check")
    assert failed.returncode == 1
    assert failed.stdout.startswith(f"{lab.alias}: cannot tell: npm:openclaw: ")
    unknown = lab.claw("pull", "Clawfile", "--check", "--json")
    assert unknown.returncode == 1
    assert '"status": "unknown"' in unknown.stdout


@pytest.mark.parametrize(
    ("fault", "said", "warned"),
    [
        ({"status": 404}, "npm:openclaw: not found (404)", True),
        ({"body": "{not json"}, "npm:openclaw: ", True),
        ({"status": 503}, "npm:openclaw: ", False),
    ],
)
def test_an_upstream_that_cannot_answer_means_a_refresh(
    lab: Lab, world: StandIns, fault: dict[str, object], said: str, warned: bool
) -> None:
    world.npm("openclaw", "1.0.0")
    follow(lab, "npm:openclaw")
    lab.release("1.0.0")
    pull(lab)
    world.fault("npm:openclaw", **fault)  # type: ignore[arg-type]
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{lab.alias}: rebuilt v1.0.0 (same version; {said}")
    config_key = "check upstream in [runners.openclaw] of the config"
    assert (config_key in result.stderr) is warned


def test_an_unreachable_registry_means_a_refresh(lab: Lab, world: StandIns) -> None:
    world.npm("openclaw", "1.0.0")
    follow(lab, "npm:openclaw")
    lab.release("1.0.0")
    pull(lab)
    world.stop()  # nothing listens there any more
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    assert "(same version; npm:openclaw: registry unreachable" in result.stdout


def test_a_digest_pinned_from_is_never_asked(lab: Lab) -> None:
    lab.release("1.0.0")
    lab.docker("pull", lab.runtime_ref)
    pinned = lab.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", lab.runtime_ref)
    lab.recipe.write_text(f"FROM {pinned}\n")
    pull(lab)
    lab.with_shim()
    assert "up to date" in pull(lab)
    assert not [call for call in lab.calls() if call.startswith("pull ")], lab.calls()


def test_interrupted_while_asking_leaves_nothing_behind(lab: Lab, world: StandIns) -> None:
    world.npm("openclaw", "1.0.0")
    follow(lab, "npm:openclaw")
    lab.release("1.0.0")
    pull(lab)
    before = lab.tags()
    held = world.hold("npm:openclaw")  # the answer comes only once claw was interrupted
    run = lab.spawn("pull", "Clawfile", name="asking")
    held.wait(describe=run.output, alive=run.process)
    run.process.send_signal(signal.SIGINT)
    assert run.wait() == 130, run.output()
    held.release()
    assert run.stderr().rstrip().endswith("error: interrupted"), run.output()
    assert lab.tags() == before


def test_a_malformed_upstream_in_the_config_is_bad_input(lab: Lab) -> None:
    lab.upstream = '["npm:"]'
    lab.write()
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {lab.config}: runners.openclaw.upstream: upstream 'npm:'")


def test_check_says_when_a_registry_image_moved(lab: Lab) -> None:
    lab.inside = True  # the docker CLI asks the registry, which listens in the namespace
    web = upstream.publish(lab.engine, f"{lab.runtime}-web", "1", cmd='["sleep", "3600"]')
    (lab.dir / "claw-pod.yml").write_text(f"services:\n  web:\n    image: {web}\n")
    assert lab.claw("pull", "--no-runners").returncode == 0
    current = lab.claw("pull", "--check", "--no-runners")
    assert (current.returncode, current.stdout.strip()) == (0, f"web: present {web} (registry unchanged)")
    pulled = lab.docker("image", "inspect", "--format", "{{.Id}}", web)
    upstream.publish(lab.engine, f"{lab.runtime}-web", "1", cmd='["sleep", "7200"]')
    lab.docker("image", "tag", pulled, web)  # publishing untagged it here; the host still has it
    moved = lab.claw("pull", "--check", "--no-runners")
    assert moved.returncode == 3, moved.stderr
    assert moved.stdout.strip() == f"web: behind: the registry's {web} moved"


def test_an_up_to_date_pull_leaves_no_drift_hint(lab: Lab) -> None:
    lab.release("1.0.0")
    (lab.dir / "claw-pod.yml").write_text("services:\n  agent:\n    build: .\n")
    assert lab.claw("pull").returncode == 0
    assert lab.claw("build").returncode == 0
    again = lab.claw("pull")
    assert again.returncode == 0, again.stderr
    assert f"{lab.alias}: up to date v1.0.0" in again.stdout
    check = lab.claw("up", "--check")
    assert check.returncode == 0, check.stderr
    assert "built against" not in check.stderr
