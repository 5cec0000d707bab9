"""Registry digests on the private engine and registry, under both toolchains (SPEC §9.3, §9.4).

What the engine's ``registry_digest`` names without pulling must be what ``docker pull``
records (the ``RepoDigests`` claw reads after a pull), for a single manifest and for a
multi-platform index; a new release under the same tag must show as moved; and asking
must download nothing.

``docker buildx imagetools inspect`` and ``docker manifest inspect`` talk to the
registry from the CLI, not through the engine, and the registry listens on
127.0.0.1 inside the engine's network namespace. So here the CLI runs inside that
namespace too: a ``docker`` first on PATH that enters it (the engine's socket is a
file, reachable from either side).
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import tenacity

from lib import refs
from lib.engine.digests import RemoteAnswer
from lib.engine.docker import Engine as ClawEngine
from lib.errors import PermanentError, TransientError
from tests.harness import toolchains, upstream
from tests.harness.engine import Engine
from tests.harness.toolchains import Toolchain

pytestmark = pytest.mark.integration

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def namespace_bin(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a ``docker`` that runs the real one in the engine's network namespace."""
    real = shutil.which("docker")
    assert real is not None, "docker is not on PATH"
    folder = tmp_path_factory.mktemp("namespace-bin")
    script = folder / "docker"
    script.write_text(f'#!/bin/sh\nexec {shlex.join([*engine.nsenter(), real])} "$@"\n')
    script.chmod(0o755)
    return folder


@dataclass
class Cli:
    """The docker CLI of one toolchain, in the engine's namespace; claw's engine over it."""

    engine: Engine
    toolchain: Toolchain
    claw: ClawEngine

    @property
    def buildkit(self) -> bool:
        return self.toolchain.buildkit

    def docker(self, *argv: str) -> str:
        """The harness's own docker calls (the engine's client config; the CLI in the namespace)."""
        return upstream.docker(self.engine, *argv)

    def remote(self, ref: str, recorded: str | None = None) -> RemoteAnswer:
        return self.claw.registry_digest(ref, recorded=recorded)

    def pulled(self, ref: str) -> str | None:
        """Pull ``ref``, then read the digest the pull recorded, as claw does after a pull."""
        self.claw.pull(ref)
        return self.recorded(ref)

    def recorded(self, ref: str) -> str | None:
        image = self.claw.inspect_images([ref]).get(ref)
        return None if image is None else refs.digest_from_repo_digests(ref, image.repo_digests)

    def images(self) -> list[str]:
        """Every image on the engine, with its tags and digests."""
        out = self.docker("image", "ls", "--all", "--no-trunc", "--digests",
                          "--format", "{{.ID}} {{.Repository}}:{{.Tag}}@{{.Digest}}")  # fmt: skip
        return sorted(out.splitlines())

    def image_id(self, ref: str) -> str | None:
        try:
            return self.docker("image", "inspect", "--format", "{{.Id}}", ref)
        except RuntimeError:
            return None

    def name(self) -> str:
        return f"digests-{self.toolchain.id.split('+')[0]}-{next(_numbers)}"

    def index(self, ref: str, amd64: str, arm64: str) -> str:
        """Push an index of two manifests as ``ref`` (the second annotated as linux/arm64/v8);
        returns its digest, as ``docker manifest push`` prints it."""
        self.docker("manifest", "create", "--insecure", ref, amd64, arm64)
        self.docker("manifest", "annotate", "--arch", "arm64", "--variant", "v8", ref, arm64)
        return self.docker("manifest", "push", "--insecure", "--purge", ref).splitlines()[-1]

    def release_index(self, name: str, version: str) -> tuple[str, str]:
        """A new index ``name:latest`` whose amd64 manifest is new; (ref, digest)."""
        amd64 = upstream.publish(self.engine, f"{name}-amd64", version, {"etc/release": f"amd64 {version}\n"})
        arm64 = upstream.publish(self.engine, f"{name}-arm64", "1", {"etc/release": "arm64 1\n"})
        ref = f"{self.engine.registry}/upstream/{name}:latest"
        return ref, self.index(ref, amd64, arm64)


@pytest.fixture
def cli(engine: Engine, toolchain: Toolchain, namespace_bin: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for key in toolchains.SELECTORS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PATH", f"{namespace_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(toolchain.config))
    made = Cli(engine, toolchain, ClawEngine(retry_wait=tenacity.wait_none()))
    made.docker("version")  # the wrapper works, or say so now
    return made


def release(cli: Cli, name: str, text: str) -> str:
    return upstream.publish(cli.engine, name, "latest", {"etc/release": text})


# --------------------------------------------------------------------------


def test_the_cli_runs_in_the_engines_namespace(cli: Cli) -> None:
    answer = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True, check=False)
    assert (answer.returncode == 0) is cli.buildkit, answer.stderr
    assert cli.claw.buildkit() is cli.buildkit


def test_a_single_manifest(cli: Cli) -> None:
    ref = release(cli, cli.name(), "1\n")
    before = cli.images()
    answer = cli.remote(ref)
    assert answer.digest is not None
    assert answer.moved is None
    assert cli.image_id(ref) is None, "asking pulled the image"
    assert cli.images() == before
    assert cli.pulled(ref) == answer.digest
    assert cli.remote(ref, recorded=answer.digest) == RemoteAnswer(answer.digest, moved=False)


def test_a_multi_platform_index(cli: Cli) -> None:
    ref, pushed = cli.release_index(cli.name(), "1")
    before = cli.images()
    answer = cli.remote(ref)
    # buildx names the index; manifest inspect cannot, and there is nothing to compare with
    assert answer == (RemoteAnswer(pushed, None) if cli.buildkit else RemoteAnswer(None, None))
    assert cli.image_id(ref) is None, "asking pulled the image"
    assert cli.images() == before
    assert cli.pulled(ref) == pushed  # the index's digest, not the amd64 manifest's
    assert cli.remote(ref, recorded=pushed) == RemoteAnswer(pushed, moved=False)
    label = refs.pullable(ref, pushed)
    assert cli.remote(ref, recorded=label).unchanged
    assert cli.docker("image", "inspect", "--format", "{{.Id}}", label) == cli.image_id(ref)


def test_a_new_release_of_a_single_manifest(cli: Cli) -> None:
    name = cli.name()
    ref = release(cli, name, "1\n")
    first = cli.pulled(ref)
    assert first is not None
    local = cli.image_id(ref)
    assert local is not None
    release(cli, name, "2\n")  # publishing leaves the tag on the new image, then removes it:
    cli.docker("tag", local, ref)  # as on a host where upstream released elsewhere
    before = cli.images()
    answer = cli.remote(ref, recorded=first)
    assert answer.moved is True
    assert answer.digest is not None
    assert answer.digest != first
    assert cli.image_id(ref) == local, "asking changed the local image"
    assert cli.images() == before
    assert cli.pulled(ref) == answer.digest


def test_a_new_release_of_an_index(cli: Cli) -> None:
    name = cli.name()
    ref, first = cli.release_index(name, "1")
    assert cli.pulled(ref) == first
    local, before = cli.image_id(ref), cli.images()
    _, second = cli.release_index(name, "2")
    assert second != first
    answer = cli.remote(ref, recorded=first)
    assert answer == (RemoteAnswer(second, moved=True) if cli.buildkit else RemoteAnswer(None, moved=True))
    assert not answer.unchanged
    assert cli.image_id(ref) == local, "asking changed the local image"
    assert cli.images() == before
    assert cli.pulled(ref) == second


def test_a_tag_moved_to_an_index_of_the_same_manifest(cli: Cli) -> None:
    """The one image then carries two digests of one repository: the pull alone does not
    say which the tag names now, and claw does not guess; the registry says."""
    name = cli.name()
    ref = release(cli, name, "1\n")
    single = cli.pulled(ref)
    assert single is not None
    arm64 = upstream.publish(cli.engine, f"{name}-arm64", "1", {"etc/release": "arm64\n"})
    index = cli.index(ref, f"{ref.rpartition(':')[0]}@{single}", arm64)
    assert cli.pulled(ref) is None
    repo_digests = cli.docker("image", "inspect", "--format", '{{join .RepoDigests " "}}', ref).split()
    assert set(refs.digests_for(ref, repo_digests)) == {single, index}
    assert cli.remote(ref, recorded=index).unchanged
    assert cli.remote(ref, recorded=single).moved is True


def test_missing_and_unreachable(cli: Cli) -> None:
    name = cli.name()
    assert cli.claw.inspect_images([f"{name}:1"]) == {}
    with pytest.raises(PermanentError):
        cli.remote(f"{cli.engine.registry}/upstream/{name}:404")
    with pytest.raises(TransientError):
        cli.remote(f"127.0.0.1:9/upstream/{name}:1")
