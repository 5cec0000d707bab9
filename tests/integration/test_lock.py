"""claw.lock on the private engine (SPEC §12): a build installs what livecheck saw, one
host locks, another builds exactly that.

The lab's recipe stands for a built-in one: it declares the runner's upstream ARG and
installs "that version" by writing it where the probe (`openclaw --version`) reads it, so
the version a base reports is the one its build was handed. claw runs inside the
engine's namespace, where the npm stand-in answers.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib import lockfile
from tests.harness import standins, upstream
from tests.harness.engine import Engine
from tests.harness.standins import StandIns
from tests.harness.toolchains import Toolchain
from tests.integration.conftest import Lab
from tests.integration.test_engines import context, tags_on

pytestmark = pytest.mark.integration

# Installs "openclaw at the answered version": the probe prints what the build was handed.
PINNED_RECIPE = """\
ARG CLAW_UPSTREAM_OPENCLAW
ARG CLAW_UPSTREAM_BEFORE
RUN printf '#!/bin/sh\\necho "OpenClaw %s"\\n' "$CLAW_UPSTREAM_OPENCLAW" > /usr/local/bin/openclaw \\
 && chmod 0755 /usr/local/bin/openclaw && echo "$CLAW_UPSTREAM_BEFORE" > /before
"""


@pytest.fixture
def world(lab: Lab, tmp_path: Path) -> Iterator[StandIns]:
    started = standins.start(lab.engine.nsenter(), tmp_path / "world")
    lab.inside = True
    lab.upstream = '["npm:openclaw"]'
    lab.extra_config = f'\n[livecheck]\nnpm = "{started.url}"\n'
    lab.write(PINNED_RECIPE)
    lab.release("0.0.1")  # the FROM image; its own openclaw is replaced by the recipe
    yield started
    started.stop()


def ok(lab: Lab, *args: str) -> str:
    result = lab.claw(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def lock_file(lab: Lab) -> Path:
    return lab.dir / "claw.lock"  # Clawfile mode: beside the Clawfile


def forget_bases(lab: Lab) -> None:
    """As on another host: none of the alias's images here."""
    for tag in lab.tags():
        lab.docker("image", "rm", f"{lab.alias}:{tag}")


def inputs(labels: dict[str, str]) -> dict[str, str]:
    keys = ("claw.base.recipe-sha", "claw.base.from.", "claw.base.upstream.", "claw.base.before")
    return {key: value for key, value in labels.items() if key.startswith(keys)}


def test_a_base_runs_the_version_livecheck_answered(lab: Lab, world: StandIns, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    assert ok(lab, "pull", "Clawfile") == f"{lab.alias}: installed v1.0.0"
    labels = lab.labels(f"{lab.alias}:latest")
    assert labels["claw.base.upstream.0"] == "npm:openclaw@1.0.0"
    assert "claw.base.upstream-pinned" not in labels  # the recipe takes the answer
    before = labels["claw.base.before"]
    fenced = lab.docker("run", "--rm", f"{lab.alias}:latest", "cat", "/before").strip()
    assert fenced == before  # the build was handed the fence it records
    world.npm("openclaw", "2.0.0")
    assert ok(lab, "pull", "Clawfile").startswith(f"{lab.alias}: installed v2.0.0 (was v1.0.0;")
    assert not lock_file(lab).exists()  # no lock file: a plain pull writes none


def test_a_recipe_that_ignores_the_answer_is_recorded_unpinned(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    lab.write()  # the plain recipe: no ARG, the probe prints the FROM image's version
    lab.release("0.9.0")
    world.npm("openclaw", "1.0.0")
    assert ok(lab, "pull", "Clawfile") == f"{lab.alias}: installed v0.9.0"
    assert lab.labels(f"{lab.alias}:latest")["claw.base.upstream-pinned"] == "false"


def test_a_probe_that_disagrees_with_the_answer_it_was_handed_is_warned_of(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    lab.write(PINNED_RECIPE.replace('"$CLAW_UPSTREAM_OPENCLAW"', '"1.0.0.post1"'))
    world.npm("openclaw", "1.0.0")
    assert ok(lab, "pull", "Clawfile") == (
        f"{lab.alias}: installed v1.0.0.post1 (warning: the probe says v1.0.0.post1, npm:openclaw answered 1.0.0)"
    )


def test_update_lock_writes_stable_bytes_and_another_host_builds_exactly_that(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    line = ok(lab, "pull", "--update-lock", "Clawfile")
    assert line.startswith(f"{lab.alias}: installed v1.0.0 (locked lock-")
    text = lock_file(lab).read_bytes()
    locked_labels = lab.labels(f"{lab.alias}:latest")
    lock_tag = line.rsplit("(locked ", 1)[1].rstrip(")")
    assert lab.tags()[lock_tag] == lab.tags()["latest"]
    assert b"[base.openclaw]" in text
    assert b'upstream = [\n    "npm:openclaw@1.0.0",\n]' in text
    assert b"sha512-" in text  # npm's integrity of that version

    ok(lab, "pull", "--update-lock", "Clawfile")  # nothing moved
    assert lock_file(lab).read_bytes() == text

    forget_bases(lab)  # a second host, or CI
    world.npm("openclaw", "2.0.0")  # upstream moved: the lock holds
    behind = lab.claw("pull", "--check", "Clawfile")
    assert behind.returncode == 3, behind.stdout + behind.stderr
    assert behind.stdout.startswith(f"{lab.alias}: behind claw.lock: not built here ({lab.alias}:{lock_tag})")
    line = ok(lab, "pull", "--locked", "Clawfile")
    assert line == f"{lab.alias}: built v1.0.0 from claw.lock ({lock_tag})"
    tags = lab.tags()
    assert "latest" not in tags  # a locked refresh never moves latest
    built = lab.labels(f"{lab.alias}:{lock_tag}")
    assert inputs(built) == inputs(locked_labels)
    assert built["claw.base.lock"].startswith("sha256:" + lock_tag.removeprefix("lock-"))
    assert lock_file(lab).read_bytes() == text  # --locked never writes

    # --check and a plain pull follow the lock and say what upstream has beyond it.
    assert ok(lab, "pull", "--check", "Clawfile").splitlines()[0] == (
        f"{lab.alias}: locked at v1.0.0 (npm:openclaw 2.0.0 available; claw pull --update-lock=openclaw)"
    )
    assert ok(lab, "pull", "Clawfile") == (
        f"{lab.alias}: locked at v1.0.0 (npm:openclaw 2.0.0 available; claw pull --update-lock=openclaw)"
    )
    # A build of the locked Clawfile is built against the locked base.
    ok(lab, "build", "Clawfile", "-t", f"svc-{lab.alias}:1")
    service = lab.labels(f"svc-{lab.alias}:1")
    assert service["claw.runner.image-id"] == tags[lock_tag]
    assert service["claw.runner.built-against"] == f"{lab.alias}:v1.0.0"


def test_update_lock_moves_the_entry_and_keeps_other_tables(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    ok(lab, "pull", "--update-lock", "Clawfile")
    other = '\n[base.someone-else]\nrecipe-sha = "sha256:' + "a" * 64 + '"\n'
    lock_file(lab).write_text(lock_file(lab).read_text() + other)
    first_tag = next(tag for tag in lab.tags() if tag.startswith("lock-"))
    world.npm("openclaw", "2.0.0")
    line = ok(lab, "pull", "--update-lock=openclaw", "Clawfile")
    assert line.startswith(f"{lab.alias}: installed v2.0.0 (was v1.0.0;")
    text = lock_file(lab).read_text()
    assert '"npm:openclaw@2.0.0"' in text
    assert "[base.someone-else]" in text
    assert first_tag not in lab.tags()  # the lock tag it replaced is gone: nothing uses it


def test_locked_refuses_before_building(lab: Lab, world: StandIns, toolchain: Toolchain) -> None:
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    result = lab.claw("pull", "--locked", "Clawfile")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--locked: no lock file at claw.lock\n" in result.stderr  # beside the Clawfile, as given
    assert "run: claw pull --update-lock" in result.stderr
    assert lab.tags() == {}

    ok(lab, "pull", "--update-lock", "Clawfile")
    before = lab.tags()
    lab.write(PINNED_RECIPE + "RUN true\n")  # the recipe changed since it was locked
    result = lab.claw("pull", "--locked", "Clawfile")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "openclaw: recipe-sha: " in result.stderr
    assert "(run: claw pull --update-lock=openclaw)" in result.stderr
    assert lab.tags() == before  # nothing was built

    lab.write()  # a recipe that does not take the answer: it cannot build as locked
    text = lock_file(lab).read_text()
    sha = next(line for line in text.splitlines() if line.startswith("recipe-sha"))
    from lib import runners

    runner = runners.table(__import__("lib.config", fromlist=["load"]).load(str(lab.config)))["openclaw"]
    lock_file(lab).write_text(text.replace(sha, f'recipe-sha = "{runner.recipe_sha}"'))
    result = lab.claw("pull", "--locked", "Clawfile")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "openclaw: upstream: the recipe does not take npm:openclaw's locked version" in result.stderr
    assert "ARG CLAW_UPSTREAM_OPENCLAW" in result.stderr
    assert lab.tags() == before


def test_a_malformed_lock_is_bad_input_naming_file_line_and_key(lab: Lab, world: StandIns) -> None:
    lock_file(lab).write_text(
        '[base.openclaw]\nrecipe-sha = "sha256:' + "a" * 64 + '"\nbefore = "yesterday"\n'
    )
    result = lab.claw("pull", "--locked", "Clawfile")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "claw.lock:3: base.openclaw.before: expected an RFC 3339 UTC time" in result.stderr
    assert lab.tags() == {}


def test_an_unknown_update_lock_name_is_a_usage_error(lab: Lab, world: StandIns) -> None:
    result = lab.claw("pull", "--update-lock=nanobot", "Clawfile")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--update-lock: 'nanobot' is not a runner or registry image of this target" in result.stderr
    assert not lock_file(lab).exists()


def test_a_locked_pod_runs_its_registry_images_by_digest_and_up_locked_refuses_what_does_not_match(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    web = upstream.publish(lab.engine, f"{lab.runtime}-web", "1", cmd='["sleep", "3600"]')
    lab.clawfile.write_text(f'FROM {lab.alias}\nCLAW_TYPE openclaw\nCMD ["sleep", "3600"]\n')
    pod = lab.dir / "claw-pod.yml"
    pod.write_text(
        f"x-claw: {{pod: {lab.pod}}}\nservices:\n  agent:\n    build: .\n  web:\n    image: {web}\n"
    )
    world.npm("openclaw", "1.0.0")
    ok(lab, "pull", "-f", "claw-pod.yml", "--update-lock")
    text = lock_file(lab).read_text()  # pod mode: beside the pod file
    locked_web = next(line for line in text.splitlines() if line.startswith("ref = "))
    assert locked_web.startswith(f'ref = "{web}@sha256:')
    ok(lab, "build", "-f", "claw-pod.yml")
    checked = json.loads(ok(lab, "up", "--check", "--json", "--locked", "-f", "claw-pod.yml"))
    assert [(s["name"], s["lock"]) for s in checked["services"]] == [
        ("agent", {"matches": True, "why": None}),
        ("web", {"matches": True, "why": None}),
    ]
    assert checked["services"][1]["image"] == locked_web.split('"')[1]  # run by digest

    world.npm("openclaw", "2.0.0")  # the lock moves on; the agent image is still built on 1.0.0
    ok(lab, "pull", "-f", "claw-pod.yml", "--update-lock=openclaw")
    refused = lab.claw("up", "-d", "--locked", "-f", "claw-pod.yml")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"pod {lab.pod} does not match claw.lock:" in refused.stderr
    assert "agent: built on a base that does not match claw.lock (upstream, before differ)" in refused.stderr
    assert not (lab.dir / "compose.generated.yml").exists()  # nothing written or started
    warned = lab.claw("up", "--check", "-f", "claw-pod.yml")
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert "1 service(s) do not match claw.lock (agent)" in warned.stderr


def test_two_engines_build_identical_inputs_from_one_lock(
    lab: Lab, world: StandIns, second: Engine, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    here, there = context(lab, "here", lab.engine.host), context(lab, "there", second.host)
    both = f"{here},{there}"
    world.npm("openclaw", "1.0.0")
    # The first engine asks and writes the lock; the second builds what was written.
    done = ok(lab, "--context", both, "pull", "--update-lock", "Clawfile")
    assert f"[{here}] {lab.alias}: installed v1.0.0 (locked lock-" in done
    assert f"[{there}] {lab.alias}: built v1.0.0 from claw.lock (lock-" in done
    (entry,) = lockfile.read(lock_file(lab)).bases.values()  # type: ignore[union-attr]
    world.npm("openclaw", "2.0.0")  # upstream moves: --locked neither asks nor follows it
    for engine in (lab.engine, second):  # both engines forget their bases, then build the lock
        for tag in tags_on(engine, lab.alias):
            upstream.docker(engine, "image", "rm", f"{lab.alias}:{tag}")
    assert "built v1.0.0 from claw.lock" in ok(lab, "--context", both, "pull", "--locked", "Clawfile")
    labels = [
        json.loads(upstream.docker(e, "image", "inspect", "--format", "{{json .Config.Labels}}", f"{lab.alias}:{entry.tag}"))
        for e in (lab.engine, second)
    ]  # fmt: skip
    assert inputs(labels[0]) == inputs(labels[1]) == entry.inputs()
    assert labels[0]["claw.base.lock"] == labels[1]["claw.base.lock"] == entry.hash
    checked = json.loads(ok(lab, "--context", both, "pull", "--check", "--json", "Clawfile"))  # side by side
    shown = [engine["actions"][0]["inputs"] for engine in checked["engines"]]
    assert shown[0] == shown[1] == {**entry.inputs(), "claw.base.lock": entry.hash}
    assert "latest" not in tags_on(lab.engine, lab.alias)
    assert "latest" not in tags_on(second, lab.alias)


def node_image(lab: Lab, node: str) -> None:
    """The recipe's FROM image, carrying NODE_VERSION as the official node images do."""
    ref = f"{lab.registry}/upstream/{lab.runtime}:latest"
    upstream.docker(
        lab.engine, "import", "--change", f"ENV NODE_VERSION={node}", "--change", 'CMD ["/bin/sh"]', "-", ref,
        stdin=upstream.rootfs({"usr/local/bin/openclaw": "#!/bin/sh\necho 'OpenClaw 0.0.1'\n"}),
    )  # fmt: skip
    lab.docker("push", ref)
    lab.docker("image", "rm", ref)


def test_a_release_whose_runtime_the_base_lacks_fails_before_any_build(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    node_image(lab, "22.0.0")
    world.npm("openclaw", "1.0.0")
    assert ok(lab, "pull", "Clawfile") == f"{lab.alias}: installed v1.0.0"
    before = lab.tags()
    world.npm("openclaw", "2.0.0", engines={"node": ">=99"})
    lab.with_shim()
    result = lab.claw("pull", "Clawfile")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip() == (
        f"{lab.alias}: npm:openclaw 2.0.0 needs node >=99; {lab.runtime_ref} has node 22.0.0: "
        f"change the recipe's FROM (or pin openclaw); kept {lab.alias}:v1.0.0"
    )
    assert not [call for call in lab.calls() if " build " in f" {call} "]  # no build step ran
    assert lab.tags() == before  # latest untouched

    checked = lab.claw("pull", "--check", "--json", "Clawfile")  # the same verdict, as a warning
    assert checked.returncode == 3, checked.stdout + checked.stderr
    (action,) = json.loads(checked.stdout)["actions"]
    assert action["line"] == (
        f"{lab.alias}: behind: npm:openclaw 1.0.0 → 2.0.0 (warning: npm:openclaw 2.0.0 needs node >=99; "
        f"{lab.runtime_ref} has node 22.0.0: a refresh would fail before building)"
    )
    rebuilt = lab.claw("pull", "--rebuild", "Clawfile")  # --rebuild does not bypass it
    assert rebuilt.returncode == 1, rebuilt.stdout + rebuilt.stderr

    text = lab.config.read_text().replace("[pull]", "runtime_check = false\n\n[pull]", 1)
    lab.config.write_text(text)  # the operator knows better
    assert ok(lab, "pull", "Clawfile").startswith(f"{lab.alias}: installed v2.0.0 (was v1.0.0;")
    assert [call for call in lab.calls() if " build " in f" {call} "]  # the shim does record builds


def test_update_lock_dry_run_says_the_change_as_a_diff_and_writes_nothing(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    first = ok(lab, "pull", "--update-lock", "--dry-run", "Clawfile")
    assert not lock_file(lab).exists()
    assert lab.tags() == {}  # nothing built
    assert first.startswith(f"{lab.alias}: would rebuild and lock (no record: built by an older claw; ")
    assert '+upstream = [\n+    "npm:openclaw@1.0.0",\n+]' in first
    assert '+version = "(pending)"' in first
    ok(lab, "pull", "--update-lock", "Clawfile")
    text = lock_file(lab).read_bytes()
    assert ok(lab, "pull", "--update-lock", "--dry-run", "Clawfile") == (
        f"{lab.alias}: keeps its entry v1.0.0 (nothing moved)\nclaw.lock: no change"
    )
    world.npm("openclaw", "2.0.0")
    moved = ok(lab, "pull", "--update-lock=openclaw", "--dry-run", "Clawfile")
    assert moved.startswith(f"{lab.alias}: would rebuild and lock (npm:openclaw 1.0.0 → 2.0.0; ")
    assert '-    "npm:openclaw@1.0.0",\n+    "npm:openclaw@2.0.0",' in moved
    assert lock_file(lab).read_bytes() == text


def two_runner_pod(lab: Lab, world: StandIns) -> str:
    """A pod of two services on two runners: the lab's openclaw, and `second`, whose recipe
    fetches its locked version from the npm stand-in as an installer would (so a version
    npm no longer serves fails its build). Returns the second runner's alias."""
    from tests.integration.conftest import Gates

    second = f"second-{lab.alias}"
    step = Gates(world).step(lab.engine, "unused").split("/gate/")[0]  # RUN wget ... http://gateway:port
    upstream.publish(
        lab.engine, f"{lab.runtime}-2", "latest", {"usr/local/bin/openclaw": "#!/bin/sh\necho 'x'\n"}
    )
    (lab.dir / "second.Dockerfile").write_text(
        f"FROM {lab.registry}/upstream/{lab.runtime}-2:latest\nARG CLAW_UPSTREAM_SECOND\nARG CLAW_UPSTREAM_BEFORE\n"
        f"{step}/second/$CLAW_UPSTREAM_SECOND\nRUN printf '#!/bin/sh\\necho \"Second %s\"\\n' "
        '"$CLAW_UPSTREAM_SECOND" > /usr/local/bin/openclaw\n'
    )
    lab.extra_config += (
        f'\n[runners.second]\nalias = "{second}"\nrecipe = "second.Dockerfile"\nupstream = ["npm:second"]\n'
        'probe = ["openclaw", "--version"]\n'
    )
    lab.write(PINNED_RECIPE)
    for name, driver, alias in (("one", "openclaw", lab.alias), ("two", "second", second)):
        (lab.dir / name).mkdir()
        (lab.dir / name / "Clawfile").write_text(f"FROM {alias}\nCLAW_TYPE {driver}\n")
    (lab.dir / "claw-pod.yml").write_text(
        f"x-claw: {{pod: {lab.pod}}}\nservices:\n  one:\n    build: one\n  two:\n    build: two\n"
    )
    world.npm("openclaw", "1.0.0")
    world.npm("second", "3.0.0")
    return second


@pytest.fixture
def open_world(lab: Lab, tmp_path: Path) -> Iterator[StandIns]:
    """The stand-ins where builds can reach them too (on every address of the namespace)."""
    started = standins.start(lab.engine.nsenter(), tmp_path / "open-world", host="0.0.0.0")
    lab.inside = True
    lab.upstream = '["npm:openclaw"]'
    lab.extra_config = f'\n[livecheck]\nnpm = "{started.url}"\n'
    lab.release("0.0.1")
    yield started
    started.stop()


def test_a_locked_input_that_is_gone_fails_its_runner_by_name_and_the_others_build(
    lab: Lab, open_world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    second = two_runner_pod(lab, open_world)
    ok(lab, "pull", "--update-lock", "-f", "claw-pod.yml")
    entry = lockfile.read(lock_file(lab)).bases["openclaw"]  # type: ignore[union-attr]
    locked_from = entry.froms[0]
    # The registry deletes the locked FROM digest, and this host has no copy of it.
    forget_bases(lab)
    for tag in lab.tags(second):
        lab.docker("image", "rm", f"{second}:{tag}")
    lab.docker(
        "image", "rm", "--force", lab.docker("image", "inspect", "--format", "{{.Id}}", locked_from).strip()
    )
    name, _, digest = locked_from.rpartition("@")
    path = name.split("/", 1)[1].rsplit(":", 1)[0]
    code = (
        "import urllib.request; r = urllib.request.Request("
        f"'http://{lab.registry}/v2/{path}/manifests/{digest}', method='DELETE'); "
        "print(urllib.request.urlopen(r).status)"
    )
    import subprocess
    import sys

    deleted = subprocess.run(
        lab.engine.nsenter(sys.executable, "-c", code), capture_output=True, text=True, check=False
    )
    assert deleted.stdout.strip() == "202", deleted.stderr
    result = lab.claw("pull", "--locked", "-f", "claw-pod.yml")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"{lab.alias}: refresh failed: the locked {locked_from} cannot be fetched (" in result.stdout
    assert any(line.startswith(f"{second}: built v3.0.0 from claw.lock (lock-") for line in lines), lines
    assert "run: claw pull --update-lock=openclaw" in result.stderr
    assert not [tag for tag in lab.tags() if tag.startswith("lock-")]  # never replaced by another

    # npm no longer serves the second runner's locked version: that runner fails, openclaw builds.
    open_world.unpublish("npm:second", "3.0.0")
    for tag in lab.tags(second):
        lab.docker("image", "rm", f"{second}:{tag}")
    lab.release("0.0.2")  # the deleted FROM digest stays gone: upstream publishes again, locked afresh
    ok(lab, "pull", "--update-lock=openclaw", "-f", "claw-pod.yml")
    result = lab.claw("pull", "--locked", "-f", "claw-pod.yml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{second}: refresh failed: build: " in result.stdout
    assert any(line.startswith(f"{lab.alias}: locked at v1.0.0") for line in result.stdout.splitlines())


def test_an_interrupted_update_lock_leaves_the_old_lock_whole(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    ok(lab, "pull", "--update-lock", "Clawfile")
    text, before = lock_file(lab).read_bytes(), lab.tags()
    world.npm("openclaw", "2.0.0")
    held = lab.hold("build *")
    running = lab.spawn("pull", "--update-lock", "Clawfile", name="update")
    held.wait(describe=running.output, alive=running.process)
    running.process.send_signal(signal.SIGINT)
    assert running.wait() == 130, running.output()
    assert lock_file(lab).read_bytes() == text
    assert lab.tags() == before
    assert sorted(p.name for p in lab.dir.iterdir() if "claw.lock" in p.name) == ["claw.lock"]


def test_two_pods_on_one_host_each_build_on_their_own_locked_base(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    lab.keep = 1  # pruning spares lock tags
    lab.write(PINNED_RECIPE)
    for pod in ("a", "b"):
        (lab.dir / pod).mkdir()
        (lab.dir / pod / "Clawfile").write_text(f"FROM {lab.alias}\nCLAW_TYPE openclaw\n")
        (lab.dir / pod / "claw-pod.yml").write_text(
            f"x-claw: {{pod: {lab.pod}-{pod}}}\nservices:\n  agent:\n    build: .\n"
        )
    world.npm("openclaw", "1.0.0")
    ok(lab, "pull", "--update-lock", "-f", "a/claw-pod.yml")
    world.npm("openclaw", "2.0.0")
    ok(lab, "pull", "--update-lock", "-f", "b/claw-pod.yml")
    entries = {pod: lockfile.read(lab.dir / pod / "claw.lock").bases["openclaw"] for pod in "ab"}  # type: ignore[union-attr]
    assert entries["a"].upstreams == ("npm:openclaw@1.0.0",)
    assert entries["b"].upstreams == ("npm:openclaw@2.0.0",)
    latest = lab.tags()["latest"]
    assert ok(lab, "pull", "-f", "a/claw-pod.yml") == (
        f"{lab.alias}: locked at v1.0.0 (npm:openclaw 2.0.0 available; claw pull --update-lock=openclaw)"
    )
    assert ok(lab, "pull", "-f", "b/claw-pod.yml") == f"{lab.alias}: locked at v2.0.0"
    tags = lab.tags()
    assert tags["latest"] == latest  # neither locked pull moved it
    assert {entries["a"].tag, entries["b"].tag} <= set(tags)  # neither removed the other's
    for pod in "ab":
        ok(lab, "build", "-f", f"{pod}/claw-pod.yml")
        built = lab.labels(f"claw-local/{lab.pod}-{pod}-agent:latest")
        assert built["claw.runner.image-id"] == tags[entries[pod].tag]
        assert built["claw.base.upstream.0"] == entries[pod].upstreams[0]


def test_the_answer_livecheck_got_is_built_even_when_upstream_answers_otherwise_meanwhile(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    """The race closed by SPEC §12.1: upstream releases between livecheck's question and
    the build; the base installs (and records) what livecheck was told."""
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    held = lab.hold("build *")
    running = lab.spawn("pull", "Clawfile", name="racing")
    held.wait(describe=running.output, alive=running.process)
    world.npm("openclaw", "2.0.0")  # what any later request would be told
    held.release()
    assert running.wait() == 0, running.output()
    assert running.stdout().strip() == f"{lab.alias}: installed v1.0.0"
    assert lab.labels(f"{lab.alias}:latest")["claw.base.upstream.0"] == "npm:openclaw@1.0.0"


def test_locked_names_a_runner_the_lock_does_not_and_builds_nothing(
    lab: Lab, world: StandIns, toolchain: Toolchain
) -> None:
    lab.toolchain = toolchain
    world.npm("openclaw", "1.0.0")
    lock_file(lab).write_text('[base.someone-else]\nrecipe-sha = "sha256:' + "a" * 64 + '"\n')
    result = lab.claw("pull", "--locked", "Clawfile")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--locked: the lock does not cover this target:" in result.stderr
    assert "openclaw: not in claw.lock (run: claw pull --update-lock=openclaw)" in result.stderr
    assert lab.tags() == {}


def test_up_locked_refuses_a_registry_image_at_another_digest(lab: Lab, world: StandIns) -> None:
    web = upstream.publish(lab.engine, f"{lab.runtime}-web", "1", cmd='["sleep", "3600"]')
    pod = lab.dir / "claw-pod.yml"
    pod.write_text(f"x-claw: {{pod: {lab.pod}}}\nservices:\n  web:\n    image: {web}\n")
    ok(lab, "pull", "-f", "claw-pod.yml", "--update-lock")
    (locked_ref,) = [entry.ref for entry in lockfile.read(lock_file(lab)).images.values()]  # type: ignore[union-attr]
    upstream.publish(lab.engine, f"{lab.runtime}-web", "1", {"moved": "yes"}, cmd='["sleep", "3600"]')
    lab.docker("pull", web)  # this host has the tag's new image ...
    lab.docker("image", "rm", "--force", locked_ref)  # ... and not the locked digest
    refused = lab.claw("up", "-d", "--locked", "-f", "claw-pod.yml")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"web: image {locked_ref} is not on this host" in refused.stderr
    assert "run: claw pull -f claw-pod.yml" in refused.stderr
    assert not (lab.dir / "compose.generated.yml").exists()
