"""The in-memory engine of the unit tests: images, tags, labels, containers and a registry.

``Model`` is an ``Engine`` whose image, container, build and compose verbs answer from
memory, the way docker would where the tests lean on it: a container is removed by name
as well as by ID, ``images_with_label`` answers with the labelled images (tagged or
not), an inspect of several refs returns the present ones. Any other docker call fails
the test at once. ``Asker`` answers upstream questions from a table.
"""

from __future__ import annotations

import fnmatch
import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lib.asker import Asker as NetworkAsker
from lib.engine.digests import RemoteAnswer
from lib.engine.docker import Engine
from lib.engine.output import EngineInfo, Image, Listed
from lib.engine.process import Result
from lib.errors import PermanentError, UpstreamError, UpstreamUnreachable
from lib.upstreams import Answer, Upstream
from tests.harness.dockerfile import labels_built


def digest_of(ref: str) -> str:
    """A registry digest for ``ref``, the same every time it is asked."""
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


class Model(Engine):
    """The engine's state, as far as claw can see it, in memory.

    Images are keyed by ID (``created``: the order they came in, docker's creation
    time); ``tags`` map a ref to its image; ``markers`` are the containers (claw creates
    only its lock markers, created and never started, and probes, which end at once),
    by ID: their name and labels. ``fail[step]`` makes a step raise: ``build``,
    ``probe``, ``inspect``, ``list``, ``registry``, ``check``, ``pull`` (or ``pull REF``
    for one ref), ``tag REF``."""

    def __init__(self, images: Mapping[str, Image] | None = None) -> None:
        super().__init__()
        self.tags: dict[str, str] = {}
        self.created: dict[str, int] = {}
        self.fail: dict[str, BaseException] = {}
        self.probe_output = "OpenClaw 1.2.3 (3f2a9c1)\n"
        self.probed: list[tuple[str, ...]] = []
        self.built_labels: list[Mapping[str, str]] = []
        self.built_pull: list[bool] = []  # each build: whether it had --pull
        self.prefetched = 0
        self.labels: dict[str, dict[str, str]] = {}  # image ID -> labels
        self.registry: dict[str, str] = {}  # ref -> the digest the registry names now
        self.digests: dict[str, tuple[str, ...]] = {}  # image ID -> RepoDigests
        self.pulled: list[str] = []
        self.asked_registry: list[str] = []
        self.inspected: list[list[str]] = []  # the refs of each inspect call
        self.listings: list[list[str]] = []  # the patterns of each image listing
        self.done: list[str] = []  # what changed the host or started a pod, in order
        self.markers: dict[str, tuple[str, dict[str, str]]] = {}  # container ID -> name, labels
        self.container_image: dict[str, str] = {}  # container ID -> the image it was created from
        self.marker_count = 0
        self._lock = threading.Lock()  # refreshes run on several threads
        for ref, image in (images or {}).items():
            self.put(ref, image)

    # -- setting the scene ---------------------------------------------------

    def new_image(self, image_id: str | None = None) -> str:
        with self._lock:
            image_id = image_id or f"sha256:{len(self.created) + 1:064x}"
            self.created.setdefault(image_id, len(self.created) + 1)
            return image_id

    def add(self, *refs: str, labels: Mapping[str, str] | None = None, image_id: str | None = None) -> str:
        """A new image (created after every other), tagged ``refs`` (none: dangling)."""
        image_id = self.new_image(image_id)
        self.labels[image_id] = dict(labels or {})
        for ref in refs:
            self.tags[ref] = image_id
        return image_id

    def put(self, ref: str, image: Image) -> str:
        """``image`` under ``ref`` and each of its own tags, with its labels and digests."""
        self.add(ref, *image.repo_tags, labels=image.labels, image_id=image.id)
        if image.repo_digests:
            self.digests[image.id] = image.repo_digests
        return image.id

    def publish(self, *refs: str) -> None:
        """The registry has ``refs`` (a pull of them succeeds)."""
        for ref in refs:
            self.registry.setdefault(ref, digest_of(ref))

    def start_container(self, name: str, image: str, labels: Mapping[str, str] | None = None) -> str:
        """A container of ``image`` (a ref or an ID); its ID."""
        with self._lock:
            self.marker_count += 1
            cid = f"{self.marker_count:064x}"  # never reused, as docker's IDs
            self.markers[cid] = (name, dict(labels or {}))
            self.container_image[cid] = self.tags.get(image, image)
            return cid

    def _maybe_fail(self, *steps: str) -> None:
        for step in steps:
            if step in self.fail:
                raise self.fail[step]

    def _image(self, image_id: str) -> Image:
        tags = tuple(ref for ref, i in self.tags.items() if i == image_id)
        labels = self.labels.get(image_id, {})
        created = f"{self.created[image_id]:06d}"
        return Image(image_id, tags, labels, repo_digests=self.digests.get(image_id, ()), created=created)

    def _id_of(self, ref: str) -> str | None:
        """The image ``ref`` names: a tag, or an image ID (full, or without ``sha256:``)."""
        if ref in self.tags:
            return self.tags[ref]
        for image_id in self.created:
            if ref in (image_id, image_id.removeprefix("sha256:")):
                return image_id
        return None

    # -- docker's verbs --------------------------------------------------------

    def run(self, argv: Sequence[str], **options: Any) -> Result:
        raise AssertionError(f"unexpected docker call: {list(argv)}")

    def check(self) -> EngineInfo:
        self._maybe_fail("check")
        return EngineInfo("27.0.0", "27.0.0", "1.46")

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
        self.done.append(f"build {tag}")
        return self.add(*([tag] if tag else []), labels=labels)

    def image(self, ref: str) -> Image | None:
        return self.inspect_images([ref]).get(ref)

    def inspect_images(self, refs: Iterable[str]) -> dict[str, Image]:
        wanted = list(dict.fromkeys(refs))
        self.inspected.append(wanted)
        self._maybe_fail("inspect")
        found = {}
        for ref in wanted:
            image_id = self._id_of(ref)
            if image_id is not None:
                found[ref] = self._image(image_id)
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
        self._maybe_fail("pull", f"pull {ref}")
        self.pulled.append(ref)
        digest = self.registry.get(ref)
        if digest is None:
            raise PermanentError(
                ("docker", "pull", ref), 1, "", f"manifest for {ref} not found: manifest unknown"
            )
        self.done.append(f"pull {ref}")
        name = ref.rsplit(":", 1)[0]
        image_id = next((i for i, d in self.digests.items() if f"{name}@{digest}" in d), None)
        if image_id is None:
            image_id = self.new_image()
            self.digests[image_id] = (f"{name}@{digest}",)
        self.tags[ref] = image_id

    def tag(self, source: str, target: str) -> None:
        self._maybe_fail(f"tag {target}")
        image_id = self._id_of(source)
        if image_id is None:
            raise PermanentError(("docker", "tag"), 1, "", f"No such image: {source}")
        self.tags[target] = image_id

    def remove_image(self, ref: str, *, force: bool = False) -> bool:
        return self.tags.pop(ref, None) is not None

    def run_probe(
        self, image: str, argv: Sequence[str], *, timeout: float, labels: Mapping[str, str] | None = None
    ) -> str:
        self.probed.append(tuple(argv))
        self._maybe_fail("probe")
        return self.probe_output

    def list_images(self, patterns: Sequence[str]) -> list[Listed]:
        self.listings.append(list(patterns))
        self._maybe_fail("list")
        rows = []
        for ref, image_id in self.tags.items():
            if any(fnmatch.fnmatchcase(ref, p) or ref.rsplit(":", 1)[0] == p for p in patterns):
                repository, tag = ref.rsplit(":", 1)
                rows.append(Listed(repository, tag, image_id, f"{self.created[image_id]:06d}"))
        return rows

    def images_with_label(self, key: str) -> list[Image]:
        return [self._image(image_id) for image_id in self.created if key in self.labels.get(image_id, {})]

    def containers_labelled(self, label: str) -> list[str]:
        key, _, value = label.partition("=")
        return [
            name
            for name, labels in list(self.markers.values())
            if key in labels and (not value or labels[key] == value)
        ]

    def create_marker(self, name: str, image: str, labels: Mapping[str, str]) -> tuple[bool, str]:
        held = next((cid for cid, (held, _) in list(self.markers.items()) if held == name), None)
        if held is not None:
            return False, held
        return True, self.start_container(name, image, labels)

    def marker_labels(self, container: str) -> dict[str, str] | None:
        found = self.markers.get(container)
        return found[1] if found is not None else None

    def remove_container(self, name: str) -> None:
        """``docker rm -f``: by ID or by name; one that is already gone is fine."""
        with self._lock:
            for cid, (held, _) in list(self.markers.items()):
                if name in (cid, held):
                    del self.markers[cid]
                    self.container_image.pop(cid, None)

    def container_image_ids(self) -> set[str]:
        return {image for cid, image in self.container_image.items() if cid in self.markers}

    def refresh_tags(self) -> list[str]:
        return [ref for ref in self.tags if ":claw-refresh-" in ref]

    def compose_up(self, *, project: str, **_: Any) -> Result:
        self.done.append(f"compose up {project}")
        return Result(("docker", "compose", "up"), 0, "", "")

    def compose_down(self, *, project: str, **_: Any) -> Result:
        self.done.append(f"compose down {project}")
        return Result(("docker", "compose", "down"), 0, "", "")


class Asker(NetworkAsker):
    """Upstream answers from a table: a version (or sha), or an error to raise."""

    def __init__(self, answers: Mapping[str, str | BaseException] | None = None) -> None:
        super().__init__(attempts=1)
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
