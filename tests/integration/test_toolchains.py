"""Each toolchain is what it claims to be, on the private engine (SPEC §8.1).

``legacy+v1``: no buildx (legacy builder), no ``docker compose`` (so compose v1).
``buildkit+v2``: buildx (BuildKit through the engine's ``default`` builder) and compose v2.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import toolchains, upstream
from tests.harness.engine import Engine
from tests.harness.toolchains import Toolchain
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def base(engine: Engine) -> str:
    """A local busybox image to build FROM and to run under compose."""
    ref = "toolchain-base:1"
    upstream.make_image(engine, ref)
    return ref


def run(
    toolchain: Toolchain, engine: Engine, *argv: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=toolchain.env({**os.environ, **engine.env}),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def versions(toolchain: Toolchain) -> str:
    return f"[{toolchain.id}]\n{toolchains.DESCRIBED.get(toolchain.id, '(not described)')}"


def test_buildx_answers_only_under_buildkit(toolchain: Toolchain, engine: Engine) -> None:
    buildx = run(toolchain, engine, "docker", "buildx", "version")
    if toolchain.buildkit:
        assert buildx.returncode == 0, f"{buildx.stderr}\n{versions(toolchain)}"
        assert buildx.stdout.startswith("github.com/docker/buildx 0."), versions(toolchain)
        inspect = run(toolchain, engine, "docker", "buildx", "inspect")
        assert inspect.returncode == 0, inspect.stderr
        assert re.search(r"^Driver:\s+docker$", inspect.stdout, re.MULTILINE), (
            inspect.stdout
        )  # the engine's own
    else:
        assert buildx.returncode != 0, f"buildx answered: {buildx.stdout}\n{versions(toolchain)}"
        assert "unknown command: docker buildx" in buildx.stderr, buildx.stderr


def test_compose_is_v2_under_buildkit_and_v1_under_legacy(toolchain: Toolchain, engine: Engine) -> None:
    v2 = run(toolchain, engine, "docker", "compose", "version", "--short")
    v1 = run(toolchain, engine, "docker-compose", "version", "--short")
    if toolchain.buildkit:
        assert v2.returncode == 0, f"{v2.stderr}\n{versions(toolchain)}"
        assert v2.stdout.strip().lstrip("v").startswith("2."), versions(toolchain)
    else:
        assert v2.returncode != 0, f"docker compose answered: {v2.stdout}\n{versions(toolchain)}"
        assert "unknown flag: --short" in v2.stderr, v2.stderr  # the CLI takes --short for one of its own
        bare = run(toolchain, engine, "docker", "compose", "version")
        assert bare.returncode != 0, f"docker compose answered: {bare.stdout}"
        assert "unknown command: docker compose" in bare.stderr, bare.stderr
        assert v1.returncode == 0, f"{v1.stderr}\n{versions(toolchain)}"
        assert v1.stdout.strip().startswith("1."), versions(toolchain)


@pytest.mark.parametrize("source", ["local", "registry"])
def test_build_goes_through_the_claimed_builder(
    toolchain: Toolchain, engine: Engine, base: str, tmp_path: Path, source: str
) -> None:
    if source == "registry":  # the builder itself pulls it from the private registry
        start = upstream.publish(engine, f"toolchain-{toolchain.id.replace('+', '-')}", "1")
    else:
        start = base
    (tmp_path / "Dockerfile").write_text(f"FROM {start}\nRUN echo built > /built\n")
    tag = f"toolchain-built-{next(_numbers)}:1"
    if toolchain.buildkit:
        built = run(toolchain, engine, "docker", "build", "--progress=plain", "-t", tag, ".", cwd=tmp_path)
        log = built.stderr
        assert built.returncode == 0, f"{log}\n{versions(toolchain)}"
        assert '#0 building with "default" instance using docker driver' in log, log
        assert re.search(r"^#\d+ \[internal\] load build definition from Dockerfile$", log, re.MULTILINE), log
        assert f"load metadata for {start if '/' in start else 'docker.io/library/' + start}" in log, log
        assert "Step 1/2" not in built.stdout + log
    else:
        refused = run(toolchain, engine, "docker", "build", "--progress=plain", "-t", tag, ".", cwd=tmp_path)
        assert refused.returncode != 0, "the legacy builder took a BuildKit-only flag"
        assert "unknown flag: --progress" in refused.stderr, refused.stderr
        built = run(toolchain, engine, "docker", "build", "-t", tag, ".", cwd=tmp_path)
        log = built.stdout + built.stderr
        assert built.returncode == 0, f"{log}\n{versions(toolchain)}"
        assert f"Step 1/2 : FROM {start}" in built.stdout, log
        assert "DEPRECATED: The legacy builder is deprecated" in built.stderr, log
        assert "[internal] load build definition" not in log
    print(f"[{toolchain.id}] docker build from {source}:\n{log}")
    ran = run(toolchain, engine, "docker", "run", "--rm", tag, "cat", "/built")
    assert (ran.returncode, ran.stdout) == (0, "built\n"), ran.stderr


def test_compose_up_and_down_on_the_private_engine(
    toolchain: Toolchain, engine: Engine, base: str, tmp_path: Path
) -> None:
    project = f"toolchain{next(_numbers)}{'v2' if toolchain.buildkit else 'v1'}"
    (tmp_path / "compose.yml").write_text(
        f"services:\n  svc:\n    image: {base}\n    command: [sleep, '300']\n"
    )
    compose = ["docker", "compose"] if toolchain.buildkit else ["docker-compose"]
    project_args = ["-p", project, "-f", str(tmp_path / "compose.yml")]
    labels = ["docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={project}"]

    up = run(toolchain, engine, *compose, *project_args, "up", "-d", cwd=tmp_path)
    assert up.returncode == 0, f"{up.stdout}{up.stderr}\n{versions(toolchain)}"
    try:
        listed = run(
            toolchain, engine, *labels, "--format", '{{.State}} {{.Label "com.docker.compose.version"}}'
        )
        state, _, version = listed.stdout.strip().partition(" ")
        assert state == "running", listed.stdout + listed.stderr
        assert version.startswith("2." if toolchain.buildkit else "1."), f"{version}\n{versions(toolchain)}"
    finally:
        down = run(toolchain, engine, *compose, *project_args, "down", "--timeout", "1", cwd=tmp_path)
    assert down.returncode == 0, down.stdout + down.stderr
    assert run(toolchain, engine, *labels, "--quiet").stdout.strip() == ""
    networks = run(toolchain, engine, "docker", "network", "ls", "--quiet", "--filter", f"name={project}_")
    assert networks.stdout.strip() == ""


# --------------------------------------------------------------------------
# The harness itself
# --------------------------------------------------------------------------


def test_ensure_asks_nothing_once_the_plugins_are_there(
    plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"ensure() ran something with the plugins present: {args}")

    monkeypatch.setattr(toolchains, "_fetch", refuse)
    monkeypatch.setattr(toolchains.subprocess, "run", refuse)
    assert toolchains.ensure(plugins) == plugins
    fetched = toolchains.fetched(plugins)
    print(json.dumps(fetched, indent=2))
    packages = fetched["packages"]
    assert isinstance(packages, dict)
    assert set(packages) == set(toolchains.PLUGINS)


def test_ensure_redoes_a_partial_fetch_cleanly(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    (cache / "cli-plugins").mkdir(parents=True)
    (cache / "cli-plugins" / "docker-compose").write_bytes(b"half a binary")
    (cache / ".fetch-interrupted" / "debs").mkdir(parents=True)
    calls: list[Path] = []

    def fetch(scratch: Path) -> dict[str, object]:  # the real binaries, without the network
        calls.append(scratch)
        (scratch / "cli-plugins").mkdir()
        for name in toolchains.PLUGINS:
            (scratch / "cli-plugins" / name).symlink_to(plugins / "cli-plugins" / name)
        return {
            "sizes": {name: (plugins / "cli-plugins" / name).stat().st_size for name in toolchains.PLUGINS}
        }

    monkeypatch.setattr(toolchains, "_fetch", fetch)
    assert toolchains.ensure(cache) == cache
    assert len(calls) == 1
    assert sorted(p.name for p in (cache / "cli-plugins").iterdir()) == sorted(
        [*toolchains.PLUGINS, toolchains.MANIFEST]
    )
    assert not list(cache.glob(".fetch-*")), "leftovers of the interrupted fetch remain"
    assert toolchains.ensure(cache) == cache
    assert len(calls) == 1, "a complete cache was fetched again"


INSIDE = """
import json, os, subprocess, sys
from pathlib import Path
from tests.harness import toolchains
made = toolchains.prepare(toolchains.LEGACY, Path(sys.argv[1]))
env = made.env(os.environ)
probe = {" ".join(argv): subprocess.run(argv, env=env, capture_output=True, text=True).returncode
         for argv in (["docker", "buildx", "version"], ["docker", "compose", "version"])}
built = subprocess.run(["docker", "build", "-t", sys.argv[3], sys.argv[2]], env=env, capture_output=True, text=True)
print(json.dumps({"stand_ins": sorted(p.name for p in (made.config / "cli-plugins").iterdir()),
                  "probes": probe, "build": [built.returncode, built.stdout, built.stderr]}))
"""


def test_legacy_stays_legacy_where_the_host_has_the_plugins(
    plugins: Path, engine: Engine, base: str, tmp_path: Path
) -> None:
    """With buildx and compose v2 in a system plugin folder (made in a private mount namespace),
    legacy+v1 still has neither."""
    system = toolchains.SYSTEM_PLUGIN_DIRS[0]
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {base}\nRUN true\n")
    script = (
        f'mount -t tmpfs claw-test "{system.parent.parent}" && mkdir -p "{system}" && '
        + " && ".join(
            f'ln -s "{plugins / "cli-plugins" / name}" "{system / name}"' for name in toolchains.PLUGINS
        )
        + ' && exec "$0" -c "$1" "$2" "$3" "$4"'
    )
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, sys.executable, INSIDE,
         str(tmp_path / "docker-config"), str(tmp_path / "ctx"), f"toolchain-shadowed-{next(_numbers)}:1"],
        cwd=ROOT, env={**os.environ, **engine.env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["stand_ins"] == sorted(toolchains.PLUGINS)
    assert all(code != 0 for code in seen["probes"].values()), seen["probes"]
    code, out, err = seen["build"]
    assert code == 0, err
    assert "Step 1/2" in out, out + err
