"""Registry digests: names, RepoDigests, and the output of `buildx imagetools inspect` and
`manifest inspect --verbose` recorded from the private engine and registry, replayed
through the engine's own door by the stand-in docker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tenacity

from lib import refs
from lib.engine import digests
from lib.engine.digests import RemoteAnswer, UnexpectedOutput
from lib.engine.docker import Engine
from lib.errors import InputError, PermanentError, TransientError
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
# Names
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "canonical", "short"),
    [
        ("node:22-slim", "docker.io/library/node", "node:22-slim"),
        ("node", "docker.io/library/node", "node"),
        ("docker.io/node:22", "docker.io/library/node", "node:22"),
        ("index.docker.io/library/node:22", "docker.io/library/node", "node:22"),
        ("docker.io/library/node:22-slim", "docker.io/library/node", "node:22-slim"),
        ("sipeed/picoclaw:latest", "docker.io/sipeed/picoclaw", "sipeed/picoclaw:latest"),
        ("ghcr.io/mostlydev/cllama:v0.4.1", "ghcr.io/mostlydev/cllama", "ghcr.io/mostlydev/cllama:v0.4.1"),
        ("127.0.0.1:5000/upstream/x:latest", "127.0.0.1:5000/upstream/x", "127.0.0.1:5000/upstream/x:latest"),
        ("localhost/x", "localhost/x", "localhost/x"),
        ("docker.io/library/a/b:1", "docker.io/library/a/b", "library/a/b:1"),
        (f"node@{OTHER}", "docker.io/library/node", "node@sha256:eeeeeeeeeeee"),
        (f"docker.io/library/node:22-slim@{OTHER}", "docker.io/library/node", "node:22-slim"),
    ],
)
def test_names_normalise_as_docker_does(ref: str, canonical: str, short: str) -> None:
    assert refs.canonical_name(ref) == canonical
    assert refs.short_name(ref) == short


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("node:22-slim", f"docker.io/library/node:22-slim@{OTHER}"),
        ("node", f"docker.io/library/node@{OTHER}"),
        ("sipeed/picoclaw", f"docker.io/sipeed/picoclaw@{OTHER}"),
        ("127.0.0.1:5000/upstream/x:latest", f"127.0.0.1:5000/upstream/x:latest@{OTHER}"),
        (f"ghcr.io/a/b:1@{SINGLE}", f"ghcr.io/a/b:1@{OTHER}"),
    ],
)
def test_pullable_is_fully_qualified(ref: str, expected: str) -> None:
    assert refs.pullable(ref, OTHER) == expected
    assert refs.digest_of(refs.pullable(ref, OTHER)) == OTHER


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError):
        refs.canonical_name("Not A Ref")
    with pytest.raises(ValueError, match="not a digest"):
        refs.pullable("node", "latest")
    with pytest.raises(ValueError, match="no digest"):
        refs.digest_of("node:22")


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
    assert digests.insecure_registry(ref) is insecure
    assert ("--insecure" in digests.manifest_argv(ref)) is insecure


# --------------------------------------------------------------------------
# RepoDigests
# --------------------------------------------------------------------------

# As `docker image inspect --format '{{json .RepoDigests}}'` prints them: Hub images familiar.
REPO_DIGESTS = [
    f"node@{SINGLE}",
    f"127.0.0.1:5000/upstream/x@{FIRST}",
    f"ghcr.io/mostlydev/cllama@{SECOND}",
]


@pytest.mark.parametrize(
    ("ref", "digest"),
    [
        ("node:22-slim", SINGLE),
        ("docker.io/library/node:22-slim", SINGLE),
        ("127.0.0.1:5000/upstream/x:latest", FIRST),
        ("ghcr.io/mostlydev/cllama:v0.4.1", SECOND),
        ("127.0.0.1:5001/upstream/x:latest", None),  # another registry
        ("upstream/x:latest", None),  # Docker Hub's, not the loopback registry's
        ("nodejs:22", None),
    ],
)
def test_repo_digests_match_the_repository(ref: str, digest: str | None) -> None:
    assert refs.digest_from_repo_digests(ref, REPO_DIGESTS) == digest


def test_several_digests_for_one_repository_are_ambiguous() -> None:
    # Seen on the engine: a tag moved from a manifest to an index listing that same
    # manifest, and the one image then carries both.
    both = [f"127.0.0.1:5000/upstream/x@{SINGLE}", f"127.0.0.1:5000/upstream/x@{FIRST}"]
    assert refs.digests_for("127.0.0.1:5000/upstream/x:latest", both) == (SINGLE, FIRST)
    assert refs.digest_from_repo_digests("127.0.0.1:5000/upstream/x:latest", both) is None
    assert refs.digest_from_repo_digests("node", []) is None


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
    assert digests.remote_digest(docker_engine, SINGLE_REF, buildkit=True) == RemoteAnswer(SINGLE, None)
    assert fake.args == [recording("imagetools-single")["argv"][1:]]


def test_buildx_names_an_index_digest_and_compares(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("imagetools-index"))
    fake.replay(recording("imagetools-index-moved"))
    same = digests.remote_digest(docker_engine, INDEX_REF, buildkit=True, recorded=FIRST)
    moved = digests.remote_digest(docker_engine, INDEX_REF, buildkit=True, recorded=FIRST)
    assert same == RemoteAnswer(FIRST, moved=False)
    assert same.unchanged
    assert moved == RemoteAnswer(SECOND, moved=True)
    assert not moved.unchanged


def test_without_buildx_a_single_manifest_is_named(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-single"))
    answer = digests.remote_digest(docker_engine, SINGLE_REF, buildkit=False, recorded=OTHER)
    assert answer == RemoteAnswer(SINGLE, moved=True)
    assert fake.args == [["manifest", "inspect", "--verbose", "--insecure", SINGLE_REF]]


def test_without_buildx_an_index_unchanged(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index"))
    fake.replay(recording("manifest-index-by-digest"))
    answer = digests.remote_digest(docker_engine, INDEX_REF, buildkit=False, recorded=FIRST)
    assert answer == RemoteAnswer(FIRST, moved=False)
    assert fake.args[1][-1] == f"{INDEX_REF.rpartition(':')[0]}@{FIRST}"


def test_without_buildx_an_index_moved(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index-moved"))
    fake.replay(recording("manifest-index-by-digest"))
    recorded = refs.pullable(INDEX_REF, FIRST)  # a label's value works as well as a digest
    answer = digests.remote_digest(docker_engine, INDEX_REF, buildkit=False, recorded=recorded)
    assert answer == RemoteAnswer(None, moved=True)
    assert not answer.unchanged


def test_without_buildx_an_index_whose_record_is_gone_moved(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index"))
    gone = recording("manifest-digest-not-found")
    fake.answer(
        ["manifest", "inspect", "--verbose", "--insecure", f"{INDEX_REF.rpartition(':')[0]}@{FIRST}"],
        stdout=gone["stdout"], stderr=gone["stderr"], code=gone["code"],
    )  # fmt: skip
    assert digests.remote_digest(docker_engine, INDEX_REF, buildkit=False, recorded=FIRST) == RemoteAnswer(
        None, moved=True
    )


def test_without_buildx_an_index_with_no_record_is_undecided(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-index"))
    answer = digests.remote_digest(docker_engine, INDEX_REF, buildkit=False)
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
    answer = digests.remote_digest(docker_engine, INDEX_REF, buildkit=False, recorded=SINGLE)
    assert answer == RemoteAnswer(None, moved=True)


@pytest.mark.parametrize("buildkit", [True, False])
def test_a_pinned_ref_is_never_asked(fake: FakeDocker, docker_engine: Engine, buildkit: bool) -> None:
    pinned = f"node:22-slim@{SINGLE}"
    assert digests.remote_digest(docker_engine, pinned, buildkit=buildkit) == RemoteAnswer(
        SINGLE, None, pinned=True
    )
    assert digests.remote_digest(docker_engine, pinned, buildkit=buildkit, recorded=SINGLE).unchanged
    assert digests.remote_digest(docker_engine, pinned, buildkit=buildkit, recorded=OTHER).moved is True
    assert digests.pulled_digest(docker_engine, pinned) == SINGLE
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
        digests.remote_digest(docker_engine, asked(name), buildkit=buildkit)


def test_transient_failures_are_retried(fake: FakeDocker, docker_engine: Engine) -> None:
    refused = recording("imagetools-connection-refused")
    fake.answer(list(digests.imagetools_argv(SINGLE_REF)), stderr=refused["stderr"], code=1)
    fake.replay(recording("imagetools-single"))
    seen: list[int] = []
    answer = digests.remote_digest(
        docker_engine, SINGLE_REF, buildkit=True, attempts=3, on_retry=lambda exc, n, wait: seen.append(n)
    )
    assert answer.digest == SINGLE
    assert seen == [1]


def test_a_local_list_is_refused_with_the_way_out(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.replay(recording("manifest-local-list"))
    with pytest.raises(PermanentError, match="not from the registry") as caught:
        digests.remote_digest(docker_engine, SINGLE_REF, buildkit=False)
    assert caught.value.hint is not None
    assert "docker manifest rm" in caught.value.hint


def test_without_insecure_a_plain_http_registry_says_no_such_manifest() -> None:
    # Why --insecure: the CLI tries HTTPS only and blames the manifest.
    data = recording("manifest-single-without-insecure")
    assert data["code"] == 1
    assert data["stderr"].startswith("no such manifest:")
    assert data["argv"][1:] == ["manifest", "inspect", "--verbose", SINGLE_REF]


# --------------------------------------------------------------------------
# pulled_digest through the engine
# --------------------------------------------------------------------------


def inspect_argv(ref: str) -> list[str]:
    return ["image", "inspect", "--format", "{{json .RepoDigests}}", ref]


def test_pulled_digest_reads_repo_digests(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(
        inspect_argv(INDEX_REF), stdout=json.dumps([f"{INDEX_REF.rpartition(':')[0]}@{FIRST}"]) + "\n"
    )
    assert digests.pulled_digest(docker_engine, INDEX_REF) == FIRST


def test_pulled_digest_of_a_local_build_or_a_missing_image(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(inspect_argv("built:1"), stdout="[]\n")
    fake.answer(inspect_argv("nope:1"), code=1, stderr="Error response from daemon: No such image: nope:1\n")
    assert digests.pulled_digest(docker_engine, "built:1") is None
    assert digests.pulled_digest(docker_engine, "nope:1") is None


@pytest.mark.parametrize("buildkit", [True, False])
def test_pulled_digest_asks_the_registry_when_ambiguous(
    fake: FakeDocker, docker_engine: Engine, buildkit: bool
) -> None:
    name = INDEX_REF.rpartition(":")[0]
    fake.answer(inspect_argv(INDEX_REF), stdout=json.dumps([f"{name}@{SINGLE}", f"{name}@{FIRST}"]))
    if buildkit:
        fake.replay(recording("imagetools-index"))
    else:
        fake.replay(recording("manifest-index"))
        fake.answer(["manifest", "inspect", "--verbose", "--insecure", f"{name}@{SINGLE}"], code=1,
                    stderr=f"no such manifest: {name}@{SINGLE}\n")  # fmt: skip
        fake.replay(recording("manifest-index-by-digest"))
    assert digests.pulled_digest(docker_engine, INDEX_REF, buildkit=buildkit) == FIRST


def test_pulled_digest_when_the_registry_names_none_of_them(fake: FakeDocker, docker_engine: Engine) -> None:
    name = INDEX_REF.rpartition(":")[0]
    fake.answer(inspect_argv(INDEX_REF), stdout=json.dumps([f"{name}@{SINGLE}", f"{name}@{OTHER}"]))
    fake.replay(recording("imagetools-index"))
    assert digests.pulled_digest(docker_engine, INDEX_REF, buildkit=True) is None


def test_imagetools_without_buildx_is_a_plain_failure(fake: FakeDocker, docker_engine: Engine) -> None:
    # The caller says whether buildx is there; a wrong "yes" fails, it never guesses.
    fake.replay(recording("imagetools-no-buildx"))
    with pytest.raises(PermanentError) as caught:
        digests.remote_digest(docker_engine, asked("imagetools-no-buildx"), buildkit=True)
    assert caught.value.returncode == 125
    assert "unknown flag: --format" in caught.value.stderr
