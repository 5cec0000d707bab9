"""What the docker CLI prints, as data: ``Image`` (``docker image inspect``), ``Listed``
(a row of ``docker image ls``) and ``EngineInfo`` (``docker version``), read from the
JSON it prints with ``--format '{{json .}}'``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..classify import classify, missing_image
from ..errors import PermanentError
from .process import Result


@dataclass(frozen=True)
class EngineInfo:
    client_version: str
    server_version: str
    api_version: str

    @classmethod
    def from_version(cls, stdout: str) -> EngineInfo:
        data = json_line(stdout)
        server = data.get("Server") or {}
        client = data.get("Client") or {}
        return cls(
            client_version=str(client.get("Version", "")),
            server_version=str(server.get("Version", "")),
            api_version=str(server.get("ApiVersion", "")),
        )


@dataclass(frozen=True)
class Image:
    id: str
    repo_tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: str = ""
    env: tuple[str, ...] = ()  # Config.Env: "NODE_VERSION=24.16.0", ...

    @classmethod
    def from_inspect(cls, data: dict[str, Any]) -> Image:
        labels = (data.get("Config") or {}).get("Labels") or {}
        return cls(
            env=tuple(str(e) for e in (data.get("Config") or {}).get("Env") or ()),
            id=str(data["Id"]),
            repo_tags=tuple(str(t) for t in data.get("RepoTags") or ()),
            labels={str(k): str(v) for k, v in labels.items()},
            layers=tuple(str(x) for x in (data.get("RootFS") or {}).get("Layers") or ()),
            repo_digests=tuple(str(d) for d in data.get("RepoDigests") or ()),
            created=str(data.get("Created") or ""),
        )


@dataclass(frozen=True)
class Listed:
    """One row of ``docker image ls``: a tag and the full ID it names."""

    repository: str
    tag: str
    id: str
    created: str  # "2026-11-24 00:08:40 +0000 UTC": sorts as time on one engine

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def inspected(result: Result, wanted: Sequence[str]) -> dict[str, Image]:
    """The images ``docker image inspect --format '{{json .}}' WANTED...`` printed, by ref.

    ``docker image inspect a missing b`` exits 1 but still prints ``a`` and ``b`` in
    order; stderr names the missing ones, which are absent from the result. Any other
    failure is the error docker's words make of it."""
    missing = set()
    if result.exit_code != 0:
        for line in result.stderr.splitlines():
            if not line.strip():
                continue
            ref = missing_image(line, wanted)
            if ref is None:
                raise classify(result.argv, result.exit_code, result.stdout, result.stderr)
            missing.add(ref)
    found = [ref for ref in wanted if ref not in missing]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if len(lines) != len(found):
        raise PermanentError(
            result.argv, result.exit_code, result.stdout, result.stderr + "\nunexpected inspect output"
        )
    return {ref: Image.from_inspect(json.loads(line)) for ref, line in zip(found, lines, strict=True)}


def listed(stdout: str) -> list[Listed]:
    """The tagged rows of ``docker image ls --no-trunc --format '{{json .}}'``."""
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [
        Listed(str(row["Repository"]), str(row["Tag"]), str(row["ID"]), str(row.get("CreatedAt", "")))
        for row in rows
        if row.get("Tag") not in (None, "<none>")
    ]


def json_line(text: str) -> dict[str, Any]:
    """The object on the first line of ``text``; ``{}`` when there is none."""
    try:
        value = json.loads(text.strip().splitlines()[0]) if text.strip() else {}
    except json.JSONDecodeError:
        value = {}
    return value if isinstance(value, dict) else {}
