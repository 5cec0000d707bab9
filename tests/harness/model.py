"""An in-memory engine for domain tests: tags, images, labels and a registry.

An ``Engine`` whose image and container verbs answer from memory; any verb not
modelled here reaches for the (absent) docker engine and fails loudly. ``Asker``
answers upstream questions from a table.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lib.engine.digests import RemoteAnswer
from lib.engine.docker import Engine, Image, Listed
from lib.errors import PermanentError
from lib.upstreams import Answer, Upstream, UpstreamError, UpstreamUnreachable
from tests.harness.dockerfile import labels_built


class Model(Engine):
    """Tags and images, as far as the refresh can see them.

    An ``Engine`` whose image and container verbs answer from memory; any verb
    not modelled here reaches for the (absent) docker engine and fails loudly."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, str] = {}
        self.created: dict[str, int] = {}
        self.fail: dict[str, BaseException] = {}
        self.probe_output = "OpenClaw 1.2.3 (3f2a9c1)\n"
        self.probed: list[tuple[str, ...]] = []
        self.in_use: set[str] = set()
        self.built_labels: list[Mapping[str, str]] = []
        self.built_pull: list[bool] = []  # each build: whether it had --pull
        self.prefetched = 0
        self.labels: dict[str, dict[str, str]] = {}  # image ID -> labels
        self.registry: dict[str, str] = {}  # ref -> the digest the registry names now
        self.digests: dict[str, tuple[str, ...]] = {}  # image ID -> RepoDigests
        self.pulled: list[str] = []
        self.asked_registry: list[str] = []
        self.markers: dict[str, tuple[str, dict[str, str]]] = {}  # engine locks: ID -> name, labels
        self.marker_count = 0

    def new_image(self) -> str:
        image_id = f"sha256:{len(self.created) + 1:064x}"
        self.created[image_id] = len(self.created) + 1
        return image_id

    def _maybe_fail(self, step: str) -> None:
        if step in self.fail:
            raise self.fail[step]

    def prefetch_buildkit(self) -> None:
        self.prefetched += 1

    def build(
        self,
        context: Path,
        *,
        tag: str | None = None,
        dockerfile: Path | None = None,
        dockerfile_text: str | None = None,
        labels: Mapping[str, str] | None = None,
        pull: bool = False,
        **_: Any,
    ) -> str:
        self._maybe_fail("build")
        labels = {**labels_built(dockerfile, dockerfile_text), **(labels or {})}
        self.built_labels.append(labels)
        self.built_pull.append(pull)
        image_id = self.new_image()
        self.labels[image_id] = dict(labels)
        if tag is not None:
            self.tags[tag] = image_id
        return image_id

    def image(self, ref: str) -> Image | None:
        return self.inspect_images([ref]).get(ref)

    def inspect_images(self, refs: Iterable[str]) -> dict[str, Image]:
        self._maybe_fail("inspect")
        found = {}
        for ref in refs:
            image_id = self.tags.get(ref)
            if image_id is not None:
                tags = tuple(r for r, i in self.tags.items() if i == image_id)
                labels = self.labels.get(image_id, {})
                found[ref] = Image(image_id, tags, labels, repo_digests=self.digests.get(image_id, ()))
        return found

    def registry_digest(self, ref: str, *, recorded: str | None = None, **_: Any) -> RemoteAnswer:
        self._maybe_fail("registry")
        self.asked_registry.append(ref)
        digest = self.registry.get(ref)
        if digest is None:
            raise PermanentError(("docker", "manifest", "inspect", ref), 1, "", f"no such manifest: {ref}")
        return RemoteAnswer.known(digest, recorded)

    def pull(self, ref: str, **_: Any) -> None:
        """The registry's image for ``ref`` lands locally (a new ID per digest)."""
        self._maybe_fail("pull")
        self.pulled.append(ref)
        digest = self.registry.get(ref)
        if digest is None:
            raise PermanentError(
                ("docker", "pull", ref), 1, "", f"manifest for {ref} not found: manifest unknown"
            )
        name = ref.rsplit(":", 1)[0]
        image_id = next((i for i, d in self.digests.items() if f"{name}@{digest}" in d), None)
        if image_id is None:
            image_id = self.new_image()
            self.digests[image_id] = (f"{name}@{digest}",)
        self.tags[ref] = image_id

    def tag(self, source: str, target: str) -> None:
        self._maybe_fail(f"tag {target}")
        self.tags[target] = source if source.startswith("sha256:") else self.tags[source]

    def remove_image(self, ref: str, *, force: bool = False) -> bool:
        return self.tags.pop(ref, None) is not None

    def run_probe(
        self, image: str, argv: Sequence[str], *, timeout: float, labels: Mapping[str, str] | None = None
    ) -> str:
        self.probed.append(tuple(argv))
        self._maybe_fail("probe")
        return self.probe_output

    def list_images(self, patterns: Sequence[str]) -> list[Listed]:
        self._maybe_fail("list")
        rows = []
        for ref, image_id in self.tags.items():
            if any(fnmatch.fnmatchcase(ref, p) or ref.rsplit(":", 1)[0] == p for p in patterns):
                repository, tag = ref.rsplit(":", 1)
                rows.append(Listed(repository, tag, image_id, f"{self.created[image_id]:06d}"))
        return rows

    def containers_labelled(self, label: str) -> list[str]:
        return []

    def create_marker(self, name: str, image: str, labels: Mapping[str, str]) -> tuple[bool, str]:
        held = next((cid for cid, (held, _) in self.markers.items() if held == name), None)
        if held is not None:
            return False, held
        self.marker_count += 1
        cid = f"{self.marker_count:064x}"  # never reused, as docker's IDs
        self.markers[cid] = (name, dict(labels))
        return True, cid

    def marker_labels(self, container: str) -> dict[str, str] | None:
        return self.markers[container][1] if container in self.markers else None

    def remove_container(self, name: str) -> None:
        self.markers.pop(name, None)

    def container_image_ids(self) -> set[str]:
        return set(self.in_use)

    def images_with_label(self, key: str) -> list[Image]:
        return []

    def refresh_tags(self) -> list[str]:
        return [ref for ref in self.tags if ":claw-refresh-" in ref]


class Asker:
    """Upstream answers from a table: a version (or sha), or an error to raise."""

    def __init__(self, answers: Mapping[str, str | BaseException] | None = None) -> None:
        self.answers = dict(answers or {})
        self.asked: list[str] = []

    def ask(self, upstream: Upstream) -> Answer:
        self.asked.append(str(upstream))
        answer = self.answers.get(str(upstream))
        if answer is None:
            raise UpstreamError(upstream, "not found (404)")
        if isinstance(answer, BaseException):
            raise answer
        return Answer(upstream, answer)


def unreachable(spec: str) -> UpstreamUnreachable:
    from lib.upstreams import parse

    return UpstreamUnreachable(parse(spec), "registry unreachable (connection refused)")
