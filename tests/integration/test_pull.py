"""`claw pull` on the private engine and registry: the refresh transaction and every mode.

Each test asserts the docker state afterwards through the harness's own docker
calls, never through the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lib import locks
from tests.harness import flaky, upstream
from tests.harness.toolchains import Toolchain
from tests.integration.conftest import Gates, Lab

pytestmark = pytest.mark.integration

TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def refresh_tags(lab: Lab) -> list[str]:
    return [tag for tag in lab.tags() if tag.startswith("claw-refresh-")]


def installed(lab: Lab, version: str) -> str:
    """Refresh to ``version``; return the image ID of <alias>:latest."""
    lab.release(version)
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    return lab.tags()["latest"]


# --------------------------------------------------------------------------
# The transaction
# --------------------------------------------------------------------------


def test_first_refresh_installs_latest_and_the_version_tag(lab: Lab, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain
    lab.release("2026.5.22")
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{lab.alias}: installed v2026.5.22"]
    tags = lab.tags()
    assert set(tags) == {"latest", "v2026.5.22"}
    assert tags["latest"] == tags["v2026.5.22"]
    labels = lab.labels(f"{lab.alias}:latest")
    assert labels["claw.base.driver"] == "openclaw"
    assert labels["claw.base.recipe-sha"] == "sha256:" + hashlib.sha256(lab.recipe.read_bytes()).hexdigest()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["claw.base.refreshed-at"])
    assert not lab.probe_containers()


def test_new_upstream_release_is_installed_and_the_old_tag_kept(lab: Lab) -> None:
    old = installed(lab, "0.5.0")
    lab.release("0.5.2")
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{lab.alias}: installed v0.5.2 (was v0.5.0; {lab.runtime_ref} moved)"
    tags = lab.tags()
    assert tags["v0.5.0"] == old
    assert tags["latest"] == tags["v0.5.2"] != old
    assert not refresh_tags(lab)


def test_same_version_is_a_rebuild_with_both_image_ids(lab: Lab) -> None:
    old = installed(lab, "0.5.2")
    result = lab.claw("pull", "Clawfile", "--rebuild")
    assert result.returncode == 0, result.stderr
    new = lab.tags()["latest"]
    assert new != old
    assert result.stdout.strip() == (
        f"{lab.alias}: rebuilt v0.5.2 (same version; --rebuild; image {new[7:19]}, was {old[7:19]})"
    )
    assert lab.tags()["v0.5.2"] == new


def test_nothing_new_upstream_is_up_to_date_and_builds_nothing(lab: Lab) -> None:
    installed(lab, "0.5.2")
    before = lab.tags()
    lab.with_shim()
    started = time.time()
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    ages = lab.refreshed_ago(started, time.time())
    said = f"{lab.alias}: up to date v0.5.2 ({lab.runtime_ref} unchanged; "
    assert result.stdout.strip() in [f"{said}{age})" for age in ages], result.stdout
    assert lab.tags() == before
    calls = lab.calls()
    assert not [call for call in calls if call.startswith(("build", "image tag", "run"))], calls
    assert len(calls) <= 2, calls  # one pull of the one FROM image, one inspect


def assert_untouched(lab: Lab, before: dict[str, str], result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert lab.tags() == before
    assert not refresh_tags(lab)
    assert not lab.probe_containers()
    assert f"{lab.alias}: refresh failed: " in result.stdout
    assert result.stdout.rstrip().endswith(f"; kept {lab.alias}:v0.5.0")


def test_failing_build_leaves_the_alias_as_it_was(lab: Lab) -> None:
    installed(lab, "0.5.0")
    before = lab.tags()
    lab.release("0.6.0")
    lab.write(recipe_extra="RUN exit 3\n")
    result = lab.claw("pull", "Clawfile")
    assert_untouched(lab, before, result)
    assert "build: The command '/bin/sh -c exit 3' returned a non-zero code: 3" in result.stdout
    log = re.search(r"full log in (\S+)", result.stderr)
    assert log is not None
    assert "exit 3" in Path(log[1]).read_text()


def test_probe_exiting_non_zero_fails_the_refresh(lab: Lab) -> None:
    installed(lab, "0.5.0")
    before = lab.tags()
    lab.release(script="#!/bin/sh\necho 'cannot start' >&2\nexit 4\n")
    result = lab.claw("pull", "Clawfile")
    assert_untouched(lab, before, result)
    assert "probe `openclaw --version` failed (exit 4): cannot start" in result.stdout


def test_probe_that_hangs_is_stopped_and_its_container_removed(lab: Lab) -> None:
    installed(lab, "0.5.0")
    before = lab.tags()
    lab.probe_timeout = 2
    lab.write()
    lab.release(script="#!/bin/sh\nsleep 300\n")
    started = time.monotonic()
    result = lab.claw("pull", "Clawfile")
    assert time.monotonic() - started < 60
    assert_untouched(lab, before, result)
    assert "probe `openclaw --version` did not finish within 2s" in result.stdout


@pytest.mark.parametrize("which", ["version", "latest"])
def test_tag_failure_leaves_the_alias_as_it_was(lab: Lab, which: str) -> None:
    installed(lab, "0.5.0")
    before = lab.tags()
    lab.release("0.6.0")
    target = f"{lab.alias}:v0.6.0" if which == "version" else f"{lab.alias}:latest"
    lab.with_shim(
        CLAW_SHIM_FAIL=f"image tag * {target}", CLAW_SHIM_MESSAGE="Error response from daemon: boom"
    )
    result = lab.claw("pull", "Clawfile")
    assert_untouched(lab, before, result)
    assert f"tag {target}: Error response from daemon: boom" in result.stdout
    assert any(call.startswith("image tag ") and call.endswith(target) for call in lab.calls())


def test_failed_latest_tag_puts_a_moved_version_tag_back(lab: Lab) -> None:
    installed(lab, "0.5.0")
    before = lab.tags()  # rebuilding v0.5.0 moves that tag first; it must move back
    lab.with_shim(CLAW_SHIM_FAIL=f"image tag * {lab.alias}:latest")
    result = lab.claw("pull", "Clawfile", "--rebuild")
    assert_untouched(lab, before, result)


HOSTILE = [
    ("v1.2.3+build.7; rm -rf / $(reboot)\n", "v1.2.3-build.7"),
    ('"; docker rm -f everything\nversion 2026.5.22`id`\n', "v2026.5.22"),
    ("\x1b[31mOpenClaw\x1b[0m 0.9.1-rc.1\n\x00", "v0.9.1-rc.1"),
    ("no version here, only words and 7\n", None),
    ("9" * 200 + ".1\n", None),
]


@pytest.mark.parametrize(("output", "expected"), HOSTILE)
def test_hostile_probe_output_gives_a_clean_tag_or_fails_the_refresh(
    lab: Lab, output: str, expected: str | None
) -> None:
    body = "".join(f"\\{ord(c):03o}" for c in output)
    lab.release(script=f"#!/bin/sh\nprintf '{body}'\n")
    result = lab.claw("pull", "Clawfile")
    if expected is None:  # a probe that names no version: a broken runner, nothing installed
        assert result.returncode == 1, result.stderr
        assert lab.tags() == {}
        first = repr(output.splitlines()[0][:120])
        assert result.stdout.strip() == (
            f"{lab.alias}: refresh failed: probe `openclaw --version` printed no version "
            f"(first line: {first}); {lab.alias} is not installed"
        )
        return
    assert result.returncode == 0, result.stderr
    tags = set(lab.tags()) - {"latest"}
    assert len(tags) == 1
    (tag,) = tags
    assert TAG.match(tag)
    assert tag == expected
    assert result.stdout.strip() == f"{lab.alias}: installed {tag}"


def test_a_probe_without_a_version_keeps_the_installed_base(lab: Lab) -> None:
    installed(lab, "0.5.0")
    before = lab.tags()
    lab.release(script="#!/bin/sh\necho hello\n")
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"{lab.alias}: refresh failed: probe `openclaw --version` printed no version "
        f"(first line: 'hello'); kept {lab.alias}:v0.5.0"
    )
    assert lab.tags() == before


def test_runner_without_probe_gets_the_fallback_tag(lab: Lab) -> None:
    lab.config.write_text(lab.config.read_text().replace("probe_timeout", "probe = []\nprobe_timeout"))
    lab.release("1.0.0")
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    (tag,) = set(lab.tags()) - {"latest"}
    assert re.fullmatch(r"built-\d{8}-[0-9a-f]{12}", tag)
    assert "printed no version" not in result.stderr


def test_leftovers_of_a_killed_run_are_removed_by_the_next_pull(lab: Lab) -> None:
    """Even when nothing moved upstream: the next pull says up to date, and tidies."""
    installed(lab, "0.5.0")
    before = lab.tags()
    slow = lab.config.read_text().replace("probe_timeout", 'probe = ["sh", "-c", "sleep 60"]\nprobe_timeout')
    lab.config.write_text(slow)  # the probe is not part of what a base records
    killed = lab.spawn("pull", "Clawfile", "--rebuild", name="killed")
    killed.wait_for(lambda: refresh_tags(lab) and lab.probe_containers(), "the middle of its probe")
    os.killpg(killed.process.pid, signal.SIGKILL)  # claw and its docker CLI children
    killed.wait()
    assert refresh_tags(lab)  # the killed run's temporary tag is still there
    lab.write()
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{lab.alias}: up to date v0.5.0 ("), result.stdout
    assert not refresh_tags(lab)
    assert not lab.probe_containers()
    assert {tag: lab.tags()[tag] for tag in before} == before


def test_keep_prunes_old_versions_but_never_one_in_use(lab: Lab) -> None:
    lab.keep = 2
    lab.write()
    first = installed(lab, "1.0.0")
    # a service image built against v1.0.0 still names it: it must survive
    service = f"claw-local/{lab.alias}-svc:latest"
    lab.docker("image", "tag", f"{lab.alias}:v1.0.0", "tmp-base:1")
    upstream.docker(lab.engine, "build", "-q", "-t", service, "--label", f"claw.runner.image-id={first}", "-",
                    stdin=b"FROM tmp-base:1\n")  # fmt: skip
    installed(lab, "2.0.0")
    installed(lab, "3.0.0")
    lab.release("4.0.0")
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    tags = lab.tags()
    assert set(tags) == {"latest", "v4.0.0", "v3.0.0", "v1.0.0"}
    assert f"removed {lab.alias}:v2.0.0" in result.stderr


def test_keep_never_prunes_a_version_a_container_uses(lab: Lab) -> None:
    lab.keep = 1
    lab.write()
    installed(lab, "1.0.0")
    lab.docker("create", "--name", f"{lab.alias}-user", f"{lab.alias}:v1.0.0", "true")  # stopped counts too
    installed(lab, "2.0.0")
    lab.release("3.0.0")
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 0, result.stderr
    assert set(lab.tags()) == {"latest", "v3.0.0", "v1.0.0"}
    assert f"keeping {lab.alias}:v1.0.0: a service image or a container uses it" in result.stderr
    assert f"removed {lab.alias}:v2.0.0" in result.stderr


def test_a_cancelled_run_starts_nothing(lab: Lab, gates: Gates) -> None:
    """Ctrl-C while one refresh builds: the refreshes still queued never start."""
    installed(lab, "1.0.0")
    held = gates.hold(lab.alias)
    lab.write(recipe_extra=gates.step(lab.engine, lab.alias))
    (lab.dir / "nb").mkdir()
    other = f"{lab.alias}-nb"
    lab.config.write_text(
        lab.config.read_text()
        + f'\n[runners.nanobot]\nalias = "{other}"\nrecipe = "{lab.recipe.name}"\nupstream = []\n'
    )
    (lab.dir / "nb" / "Clawfile").write_text(f"FROM {other}\nCLAW_TYPE nanobot\n")
    (lab.dir / "claw-pod.yml").write_text("services:\n  a:\n    build: .\n  b:\n    build: nb\n")
    lab.with_shim()
    run = lab.spawn("pull", "--jobs", "1", name="cancelled")
    held.wait(describe=run.output, alive=run.process)  # the first refresh is in its build
    run.process.send_signal(signal.SIGINT)
    assert run.wait() == 130, run.output()
    held.release()
    assert held.arrived() == 1
    builds = [call for call in lab.calls() if call.startswith("build ")]
    assert len(builds) == 1, builds  # the second runner's refresh never started
    assert not lab.exists(f"{other}:latest")


# --------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------


def publish_infra(lab: Lab) -> dict[str, str]:
    """Every infra component as a tiny image in the registry; the config points at them."""
    refs = {}
    for name in ("cllama", "cllama-policy", "clawdash", "claw-api", "claw-wall"):
        refs[name] = upstream.publish(lab.engine, f"{lab.runtime}-{name}", "v1")
    lab.extra_config = "\n[infra]\n" + "".join(f'{k} = "{v}"\n' for k, v in refs.items())
    lab.write()
    return refs


def test_pod_mode_pulls_only_what_the_pod_uses(lab: Lab) -> None:
    infra = publish_infra(lab)
    lab.release("1.0.0")
    web = upstream.publish(lab.engine, f"{lab.runtime}-web", "1")
    shadow = upstream.publish(lab.engine, f"{lab.runtime}-shadow", "1")  # named by a build: service
    (lab.dir / "plain").mkdir()
    (lab.dir / "plain" / "Dockerfile").write_text("FROM busybox\n")
    (lab.dir / "claw-pod.yml").write_text(f"""\
x-claw: {{pod: lab}}
services:
  agent:
    build: .
    x-claw: {{cllama: openai}}
  web:
    image: {web}
  plain:
    build: plain
    image: {shadow}
""")
    result = lab.claw("pull")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"cllama: pulled {infra['cllama']}",
        f"web: pulled {web}",
        f"{lab.alias}: installed v1.0.0",
    ]
    assert lab.exists(infra["cllama"])
    assert lab.exists(web)
    assert not lab.exists(shadow)
    assert not any(lab.exists(ref) for name, ref in infra.items() if name != "cllama")
    again = lab.claw("pull", "-f", "claw-pod.yml", "--no-runners")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == f"cllama: present {infra['cllama']}"
    assert set(lab.tags()) == {"latest", "v1.0.0"}


def test_clawfile_directory_refreshes_that_runner(lab: Lab) -> None:
    lab.release("1.0.0")
    result = lab.claw("pull", ".")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{lab.alias}: installed v1.0.0"


def test_bare_mode_refreshes_the_aliases_present_and_pulls_all_infra(lab: Lab) -> None:
    infra = publish_infra(lab)
    lab.clawfile.unlink()
    nothing = lab.claw("pull", "--no-runners")
    assert nothing.returncode == 0, nothing.stderr
    assert all(lab.exists(ref) for ref in infra.values())
    assert not lab.tags()
    lab.release("1.0.0")
    no_alias = lab.claw("pull")
    assert no_alias.returncode == 0, no_alias.stderr
    assert lab.alias not in no_alias.stdout
    assert not lab.tags()
    lab.docker("image", "tag", infra["cllama"], f"{lab.alias}:latest")  # built by hand: no version tag
    result = lab.claw("pull")
    assert result.returncode == 0, result.stderr
    assert f"{lab.alias}: installed v1.0.0 (was an untagged {lab.alias}:latest, image " in result.stdout
    assert set(lab.tags()) == {"latest", "v1.0.0"}


def test_no_runners_never_builds(lab: Lab) -> None:
    lab.release("1.0.0")
    lab.with_shim()
    result = lab.claw("pull", "Clawfile", "--no-runners")
    assert result.returncode == 0, result.stderr
    assert not lab.tags()
    assert not any(call.startswith("build") for call in lab.calls())


def test_dry_run_changes_nothing_and_json_reports_each_action(lab: Lab) -> None:
    lab.release("1.0.0")
    lab.with_shim()
    dry = lab.claw("pull", "Clawfile", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        f"{lab.alias}: would ask upstream, then refresh if something moved (openclaw.Dockerfile" in dry.stdout
    )
    assert not lab.tags()
    assert not any(call.split()[0] in ("build", "pull", "tag", "run") for call in lab.calls())
    done = lab.claw("pull", "Clawfile", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["mode"] == "clawfile"
    (action,) = report["actions"]
    assert action["status"] == "installed"
    assert action["version"] == "v1.0.0"
    assert action["image_id"] == lab.tags()["latest"]


def test_two_concurrent_pulls_of_one_alias_both_succeed(lab: Lab) -> None:
    installed(lab, "1.0.0")
    lab.release("1.1.0")
    with locks.hold_on_host(f"runner-{lab.alias}", lab.engine.host):  # both must wait, and say so
        runs = [lab.spawn("pull", "Clawfile", name=f"run{i}") for i in range(2)]
        for run in runs:
            run.says("waiting: another claw pull")
    codes = [run.wait() for run in runs]
    assert codes == [0, 0], [run.stderr() for run in runs]
    lines = sorted(run.stdout().strip() for run in runs)
    assert lines[0] == f"{lab.alias}: installed v1.1.0 (was v1.0.0; {lab.runtime_ref} moved)"
    # The other asked before it got the lock: it judges the base just built, and builds nothing.
    assert lines[1].startswith(f"{lab.alias}: up to date v1.1.0 ({lab.runtime_ref} unchanged; ")
    tags = lab.tags()
    assert set(tags) == {"latest", "v1.1.0", "v1.0.0"}
    assert tags["latest"] == tags["v1.1.0"]
    assert not refresh_tags(lab)


# --------------------------------------------------------------------------
# The registry going wrong (a flaky proxy in front of it)
# --------------------------------------------------------------------------


def test_manifest_unknown_fails_at_once(lab: Lab, proxied: Callable[[list[str]], flaky.Flaky]) -> None:
    proxied([])
    lab.recipe.write_text(f"FROM {lab.registry}/upstream/{lab.runtime}-missing:latest\n")
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 1
    assert "manifest unknown" in result.stdout
    assert "retrying" not in result.stderr
    assert not lab.tags()


def test_digest_pinned_infra_is_pulled_once_then_present(lab: Lab) -> None:
    ref = upstream.publish(lab.engine, f"{lab.runtime}-cllama", "v1")
    lab.docker("pull", ref)
    digest = lab.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", ref).split("@", 1)[1]
    lab.docker("image", "rm", ref)
    pinned = f"{ref}@{digest}"
    lab.extra_config = f'\n[infra]\ncllama = "{pinned}"\n'
    lab.write()
    (lab.dir / "claw-pod.yml").write_text(
        f"services:\n  web:\n    image: {ref}\n    x-claw: {{cllama: openai}}\n"
    )
    first = lab.claw("pull", "--no-runners")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == f"cllama: pulled {pinned}"
    again = lab.claw("pull", "--no-runners")
    assert again.stdout.splitlines()[0] == f"cllama: present {pinned}"
