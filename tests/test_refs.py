"""Image references: their grammar, the names claw derives from them, RepoDigests."""

from __future__ import annotations

import pytest

from lib import refs
from lib.errors import InputError

# Digests as the registry names them (any 64 hex digits will do here).
FIRST = "sha256:fe7bf989bff6558fbdb3366d559027e0d8243e7f59a94ac8593c9e137c1c67ec"
SECOND = "sha256:1b1f5e0c31a19482d5faf8665f33523d16df1d95f53b97cb2afca53fec7d8adb"
SINGLE = "sha256:d8f6b9338b5b05e533c5e63b18d1374883556ffb1f97ae864f7994f93b4d5df4"
OTHER = "sha256:" + "e" * 64


@pytest.mark.parametrize(
    "ref",
    [
        "busybox",
        "busybox:1.36",
        "library/busybox:latest",
        "ghcr.io/mostlydev/cllama:v0.4.1",
        "127.0.0.1:5000/upstream/base:1",
        "localhost/x",
        "ghcr.io/mostlydev/cllama:v0.4.1@sha256:" + "a" * 64,
        "claw-local/fleet-web_server.1:latest",
        "a__b/c--d:T_1.x-y",
    ],
)
def test_valid(ref: str) -> None:
    assert refs.is_valid(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "x:tägg",
        "Busybox",
        "My/x",
        "a b",
        "x:",
        "x:-bad",
        ":tag",
        "a//b",
        "a..b",
        "x;rm -rf /",
        "x\n",
        "-x",
        "x@sha256:12",
    ],
)
def test_invalid(ref: str) -> None:
    assert not refs.is_valid(ref)


def test_parts() -> None:
    parsed = refs.parse("127.0.0.1:5000/upstream/base:1")
    assert parsed == refs.Ref("127.0.0.1:5000/upstream/base", "1", None)
    assert str(parsed) == "127.0.0.1:5000/upstream/base:1"
    assert refs.repository("openclaw:v1") == "openclaw"
    with pytest.raises(ValueError, match="not an image reference"):
        refs.repository("Bad")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Fleet-Web", "fleet-web"),
        ("a b!!c", "a-b-c"),
        ("_x_", "x"),
        ("a.-b", "a-b"),
        ("a__b", "a__b"),
        ("!!", ""),
    ],
)
def test_sanitize(text: str, name: str) -> None:
    assert refs.sanitize_name(text) == name


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
    ("ref", "other", "same"),
    [
        ("node:22-slim", f"docker.io/library/node:24-slim@{OTHER}", True),
        ("index.docker.io/library/node", "node", True),
        (f"node@{OTHER}", "node:22", True),
        ("node:22", "library/node:22", True),
        ("node:22", "nodejs:22", False),
        ("node:22", "ghcr.io/library/node:22", False),
        ("sipeed/picoclaw", "sipeed/picoclaw/x", False),
    ],
)
def test_two_refs_name_one_repository_whatever_their_tags_and_digests(
    ref: str, other: str, same: bool
) -> None:
    assert refs.same_repository(ref, other) is same
    assert refs.same_repository(other, ref) is same


@pytest.mark.parametrize(
    ("ref", "qualified"),
    [
        ("node:24-slim", "docker.io/library/node:24-slim"),  # as the official images name their base
        ("node", "docker.io/library/node"),
        ("sipeed/picoclaw:latest", "docker.io/sipeed/picoclaw:latest"),
        ("index.docker.io/library/node:22", "docker.io/library/node:22"),
        ("127.0.0.1:5000/upstream/x:1", "127.0.0.1:5000/upstream/x:1"),
        (f"node@{OTHER}", "docker.io/library/node"),  # pinned by digest alone: no tag to keep
        (f"ghcr.io/a/b:1@{OTHER}", "ghcr.io/a/b:1"),
    ],
)
def test_the_qualified_name_keeps_the_tag_as_written(ref: str, qualified: str) -> None:
    assert refs.qualified_name(ref) == qualified


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
