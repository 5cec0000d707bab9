"""Registry digests: the output of `buildx imagetools inspect` and `manifest inspect
--verbose` recorded from the private engine and registry, replayed through the engine's own
door by the stand-in docker, and the RepoDigests the engine reports after a pull."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tenacity

from lib import refs
from lib.engine import argv, digests
from lib.engine.digests import RemoteAnswer
from lib.engine.docker import Engine
from lib.errors import PermanentError, TransientError, UnexpectedOutput
from tests.harness.fake_docker import FakeDocker

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "docker"

# The two index digests of the recordings: before and after the amd64 manifest moved.
FIRST = "sha256:fe7bf989bff6558fbdb3366d559027e0d8243e7f59a94ac8593c9e137c1c67ec"
SECOND = "sha256:1b1f5e0c31a19482d5faf8665f33523d16df1d95f53b97cb2afca53fec7d8adb"
SINGLE = "sha256:d8f6b9338b5b05e533c5e63b18d1374883556ffb1f97ae864f7994f93b4d5df4"
OTHER = "sha256:" + "e" * 64


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def asked(name: str) -> str:
    """The reference a recording asked about (its last argument)."""
    return str(recording(name)["argv"][-1])


SINGLE_REF = asked("manifest-single")
INDEX_REF = asked("manifest-index")


@pytest.fixture
def docker_engine(fake: FakeDocker) -> Engine:
    return Engine(retry_wait=tenacity.wait_none())


# --------------------------------------------------------------------------
# Which registries the CLI must reach over plain HTTP
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "insecure"),
    [
        ("127.0.0.1:5000/upstream/x:latest", True),
        ("127.3.4.5:5000/x", True),
        ("localhost:5000/x", True),
        ("localhost/x", True),
        ("[::1]:5000/x", False),  # not in the engine's default insecure range
        ("10.0.0.1:5000/x", False),
        ("node:22-slim", False),
        ("ghcr.io/mostlydev/cllama:v0.4.1", False),
    ],
)
def test_insecure_registries_are_the_engines_defaults(ref: str, insecure: bool) -> None:
    assert argv.insecure_registry(ref) is insecure
    assert ("--insecure" in argv.manifest_args(ref)) is insecure


# --------------------------------------------------------------------------
# Parsing recorded output
# --------------------------------------------------------------------------


def test_imagetools_prints_the_digest_of_manifest_and_index() -> None:
    assert digests.parse_imagetools(recording("imagetools-single")["stdout"]) == SINGLE
    assert digests.parse_imagetools(recording("imagetools-index")["stdout"]) == FIRST
    assert digests.parse_imagetools(recording("imagetools-index-moved")["stdout"]) == SECOND


@pytest.mark.parametrize("stdout", ["", "Name: x\n", "[]", '{"digest": "latest"}'])
def test_imagetools_without_a_digest_is_unexpected(stdout: str) -> None:
    with pytest.raises(UnexpectedOutput):
        digests.parse_imagetools(stdout)


def test_manifest_inspect_of_a_single_manifest_names_its_digest() -> None:
    found = digests.parse_manifest_inspect(recording("manifest-single")["stdout"], SINGLE_REF)
    assert found.digest == SINGLE
    assert found.entries == {('{"architecture":"amd64","os":"linux"}', SINGLE)}


def test_manifest_inspect_of_an_index_lists_platforms_only() -> None:
    now = digests.parse_manifest_inspect(recording("manifest-index")["stdout"], INDEX_REF)
    then = digests.parse_manifest_inspect(
        recording("manifest-index-by-digest")["stdout"], asked("manifest-index-by-digest")
    )
    moved = digests.parse_manifest_inspect(recording("manifest-index-moved")["stdout"], INDEX_REF)
    assert now.digest is None
    platforms = sorted(platform for platform, _ in now.entries)
    assert platforms == [
        '{"architecture":"amd64","os":"linux"}',
        '{"architecture":"arm64","os":"linux","variant":"v8"}',
    ]
    assert then == now
    assert moved.entries != now.entries
    assert len(moved.entries & now.entries) == 1  # the arm64 manifest stayed


def test_a_local_manifest_list_is_not_the_registrys() -> None:
    with pytest.raises(UnexpectedOutput, match="not from the registry") as caught:
        digests.parse_manifest_inspect(recording("manifest-local-list")["stdout"], SINGLE_REF)
    assert caught.value.hint is not None
    assert f"docker manifest rm {SINGLE_REF}" in caught.value.hint


def test_manifest_inspect_answers_for_the_ref_asked() -> None:
    with pytest.raises(UnexpectedOutput):
        digests.parse_manifest_inspect(recording("manifest-index")["stdout"], "127.0.0.1:1/other:latest")
    with pytest.raises(UnexpectedOutput):
        digests.parse_manifest_inspect('{"Ref": "x"}', "x")


# --------------------------------------------------------------------------
# remote_digest through the engine
# --------------------------------------------------------------------------


def test_buildx_names_the_digest(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("imagetools-single"))
    assert digests.remote_digest(docker_engine.ask_registry, SINGLE_REF, buildkit=True) == RemoteAnswer(
        SINGLE, None
    )
    assert fake.args == [recording("imagetools-single")["argv"][1:]]


def test_buildx_names_an_index_digest_and_compares(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("imagetools-index"))
    fake.replay(recording("imagetools-index-moved"))
    same = digests.remote_digest(docker_engine.ask_registry, INDEX_REF, buildkit=True, recorded=FIRST)
    moved = digests.remote_digest(docker_engine.ask_registry, INDEX_REF, buildkit=True, recorded=FIRST)
    assert same == RemoteAnswer(FIRST, moved=False)
    assert same.unchanged
    assert moved == RemoteAnswer(SECOND, moved=True)
    assert not moved.unchanged


def test_without_buildx_a_single_manifest_is_named(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-single"))
    answer = digests.remote_digest(docker_engine.ask_registry, SINGLE_REF, buildkit=False, recorded=OTHER)
    assert answer == RemoteAnswer(SINGLE, moved=True)
    assert fake.args == [["manifest", "inspect", "--verbose", "--insecure", SINGLE_REF]]


def test_without_buildx_an_index_unchanged(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index"))
    fake.replay(recording("manifest-index-by-digest"))
    answer = digests.remote_digest(docker_engine.ask_registry, INDEX_REF, buildkit=False, recorded=FIRST)
    assert answer == RemoteAnswer(FIRST, moved=False)
    assert fake.args[1][-1] == f"{INDEX_REF.rpartition(':')[0]}@{FIRST}"


def test_without_buildx_an_index_moved(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index-moved"))
    fake.replay(recording("manifest-index-by-digest"))
    recorded = refs.pullable(INDEX_REF, FIRST)  # a label's value works as well as a digest
    answer = digests.remote_digest(docker_engine.ask_registry, INDEX_REF, buildkit=False, recorded=recorded)
    assert answer == RemoteAnswer(None, moved=True)
    assert not answer.unchanged


def test_without_buildx_an_index_whose_record_is_gone_moved(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index"))
    gone = recording("manifest-digest-not-found")
    fake.answer(
        ["manifest", "inspect", "--verbose", "--insecure", f"{INDEX_REF.rpartition(':')[0]}@{FIRST}"],
        stdout=gone["stdout"], stderr=gone["stderr"], code=gone["code"],
    )  # fmt: skip
    assert digests.remote_digest(
        docker_engine.ask_registry, INDEX_REF, buildkit=False, recorded=FIRST
    ) == RemoteAnswer(None, moved=True)


def test_without_buildx_an_index_with_no_record_is_undecided(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index"))
    answer = digests.remote_digest(docker_engine.ask_registry, INDEX_REF, buildkit=False)
    assert answer == RemoteAnswer(None, None)
    assert not answer.unchanged
    assert len(fake.args) == 1


def test_an_index_that_was_a_single_manifest_moved(fake: FakeDocker, docker_engine: Engine) -> None:
    name = INDEX_REF.rpartition(":")[0]
    fake.replay(recording("manifest-index"))
    single = recording("manifest-single")
    fake.answer(
        ["manifest", "inspect", "--verbose", "--insecure", f"{name}@{SINGLE}"],
        stdout=single["stdout"].replace(f'"{SINGLE_REF}"', f'"{name}@{SINGLE}"'), stderr="", code=0,
    )  # fmt: skip
    answer = digests.remote_digest(docker_engine.ask_registry, INDEX_REF, buildkit=False, recorded=SINGLE)
    assert answer == RemoteAnswer(None, moved=True)


@pytest.mark.parametrize("buildkit", [True, False])
def test_a_pinned_ref_is_never_asked(fake: FakeDocker, docker_engine: Engine, buildkit: bool) -> None:
    pinned = f"node:22-slim@{SINGLE}"
    assert digests.remote_digest(docker_engine.ask_registry, pinned, buildkit=buildkit) == RemoteAnswer(
        SINGLE, None, pinned=True
    )
    assert digests.remote_digest(
        docker_engine.ask_registry, pinned, buildkit=buildkit, recorded=SINGLE
    ).unchanged
    assert (
        digests.remote_digest(docker_engine.ask_registry, pinned, buildkit=buildkit, recorded=OTHER).moved
        is True
    )
    assert fake.args == []


@pytest.mark.parametrize(
    ("name", "buildkit", "error"),
    [
        ("imagetools-not-found", True, PermanentError),
        ("imagetools-connection-refused", True, TransientError),
        ("manifest-not-found", False, PermanentError),
        ("manifest-connection-refused", False, TransientError),
    ],
)
def test_failures_are_the_engines_errors(
    fake: FakeDocker, docker_engine: Engine, name: str, buildkit: bool, error: type[Exception]
) -> None:
    fake.replay(recording(name))
    with pytest.raises(error):
        digests.remote_digest(docker_engine.ask_registry, asked(name), buildkit=buildkit)


def test_the_engine_asks_through_buildx_and_retries_transient_failures(
    fake: FakeDocker, docker_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    fake.answer(["buildx", "version"], stdout="github.com/docker/buildx v0.13.1\n")
    refused = recording("imagetools-connection-refused")
    fake.answer(list(argv.imagetools_args(SINGLE_REF)), stderr=refused["stderr"], code=1)
    fake.replay(recording("imagetools-single"))
    seen: list[int] = []
    answer = docker_engine.registry_digest(
        SINGLE_REF, attempts=3, on_retry=lambda exc, n, wait: seen.append(n)
    )
    assert answer == RemoteAnswer(SINGLE, None)
    assert seen == [1]
    assert fake.args[1:] == [list(argv.imagetools_args(SINGLE_REF))] * 2


def test_the_engine_asks_without_buildx_when_builds_do_not_go_to_buildkit(
    fake: FakeDocker, docker_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    fake.replay(recording("manifest-single"))
    assert docker_engine.registry_digest(SINGLE_REF, recorded=SINGLE) == RemoteAnswer(SINGLE, moved=False)
    assert fake.args == [list(argv.manifest_args(SINGLE_REF))]


def test_a_local_list_is_refused_with_the_way_out(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-local-list"))
    with pytest.raises(PermanentError, match="not from the registry") as caught:
        digests.remote_digest(docker_engine.ask_registry, SINGLE_REF, buildkit=False)
    assert caught.value.hint is not None
    assert "docker manifest rm" in caught.value.hint


def test_without_insecure_a_plain_http_registry_says_no_such_manifest() -> None:
    # Why --insecure: the CLI tries HTTPS only and blames the manifest.
    data = recording("manifest-single-without-insecure")
    assert data["code"] == 1
    assert data["stderr"].startswith("no such manifest:")
    assert data["argv"][1:] == ["manifest", "inspect", "--verbose", SINGLE_REF]


# --------------------------------------------------------------------------
# After a pull: the RepoDigests the engine reports
# --------------------------------------------------------------------------


def test_the_digest_a_pull_recorded_is_read_from_the_inspected_image(
    fake: FakeDocker, docker_engine: Engine
) -> None:
    name = INDEX_REF.rpartition(":")[0]
    pulled = {"Id": "sha256:" + "1" * 64, "RepoDigests": [f"{name}@{FIRST}"]}
    built = {"Id": "sha256:" + "2" * 64, "RepoDigests": []}
    fake.answer(
        ["image", "inspect", "--format", "{{json .}}", INDEX_REF, "built:1", "nope:1"],
        stdout=f"{json.dumps(pulled)}\n{json.dumps(built)}\n",
        stderr="Error response from daemon: No such image: nope:1\n",
        code=1,
    )
    found = docker_engine.inspect_images([INDEX_REF, "built:1", "nope:1"])
    assert set(found) == {INDEX_REF, "built:1"}
    assert refs.digest_from_repo_digests(INDEX_REF, found[INDEX_REF].repo_digests) == FIRST
    assert refs.digest_from_repo_digests("built:1", found["built:1"].repo_digests) is None


def test_imagetools_without_buildx_is_a_plain_failure(fake: FakeDocker, docker_engine: Engine) -> None:
    # The caller says whether buildx is there; a wrong "yes" fails, it never guesses.
    fake.replay(recording("imagetools-no-buildx"))
    with pytest.raises(PermanentError) as caught:
        digests.remote_digest(docker_engine.ask_registry, asked("imagetools-no-buildx"), buildkit=True)
    assert caught.value.returncode == 125
    assert "unknown flag: --format" in caught.value.stderr
