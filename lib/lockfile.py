"""``claw.lock`` (SPEC §12.2): the inputs one host decided, which every host then builds.

One ``[base.<driver>]`` table per runner base: the recipe's sha, each FROM image's digest
ref, each upstream's answer and the time fence, as the base's ``claw.base.*`` labels record
them (plus what the answers said of integrity and runtime, and the probe's version, for
the reader). A base **matches** an entry when those input labels equal the entry's fields;
its ``claw.base.lock`` label and ``<alias>:lock-<12 hex>`` tag name the entry's hash.

The file is meant to be committed: keys sorted, one value per line, no time of writing,
so locking twice with nothing moved writes the same bytes and a change to one runner
changes only that runner's table. Read and written with tomlkit; written atomically.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import runners, upstreams
from .errors import InputError
from .files import read_input, write_atomically

NAME = "claw.lock"
HEADER = (
    "# claw.lock: the runner bases and registry images this pod builds and runs, decided\n"
    "# once and built the same on every host (claw pull --locked). Written by claw; update\n"
    "# it with `claw pull --update-lock` (one runner: --update-lock=NAME) and commit it.\n"
)
PENDING = "(pending)"  # --update-lock --dry-run: what only a build would tell
_DIGEST_REF = re.compile(r"[^\s@]+@sha256:[0-9a-f]{64}")
_BEFORE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_RECIPE_SHA = re.compile(r"sha256:[0-9a-f]{64}")
_BASE_KEYS = ("recipe-sha", "from", "upstream", "before", "integrity", "runtime", "version")


@dataclass(frozen=True)
class BaseEntry:
    """What one runner base is locked to."""

    driver: str
    recipe_sha: str
    froms: tuple[str, ...] = ()  # as claw.base.from.<i>
    upstreams: tuple[str, ...] = ()  # as claw.base.upstream.<i>: npm:openclaw@2026.9.6
    before: str | None = None  # as claw.base.before
    integrity: tuple[str, ...] = ()  # "npm:openclaw sha512-..."; git: the commit
    runtime: tuple[str, ...] = ()  # "node >=24.16.0 <25 || >=26.1.0" (SPEC §12.4)
    version: str | None = None  # the probe's tag when it was locked: information only

    def inputs(self) -> dict[str, str]:
        """The input fields as the labels a matching base carries."""
        labels = {runners.BASE_RECIPE_SHA: self.recipe_sha}
        labels.update({f"{runners.BASE_FROM}{i}": ref for i, ref in enumerate(self.froms)})
        labels.update({f"{runners.BASE_UPSTREAM}{i}": rec for i, rec in enumerate(self.upstreams)})
        if self.before:
            labels[runners.BASE_BEFORE] = self.before
        return labels

    @property
    def hash(self) -> str:
        """sha256 of the input fields: ``claw.base.lock`` of a base built from this entry."""
        import hashlib

        canonical = json.dumps(
            {"recipe-sha": self.recipe_sha, "from": self.froms, "upstream": self.upstreams,
             "before": self.before},
            sort_keys=True, separators=(",", ":"),
        )  # fmt: skip
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def tag(self) -> str:
        """``lock-<first 12 hex of the hash>``: the tag of a base built from this entry."""
        return runners.LOCK_TAG_PREFIX + self.hash.removeprefix("sha256:")[:12]

    def differences(self, labels: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(field, locked, found) for each input field ``labels`` does not match."""
        found = of_labels(self.driver, labels)
        pairs = [
            ("recipe-sha", self.recipe_sha, found.recipe_sha),
            ("from", _shown(self.froms), _shown(found.froms)),
            ("upstream", _shown(self.upstreams), _shown(found.upstreams)),
            ("before", self.before or "none", found.before or "none"),
        ]
        return [(name, locked, here) for name, locked, here in pairs if locked != here]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.differences(labels)

    def answers(self) -> list[tuple[str, str]]:
        """The build arguments of a build from this entry: each locked answer under its
        upstream's ``CLAW_UPSTREAM_<NAME>``, and the time fence."""
        args = []
        for record in self.upstreams:
            answer = upstreams.parse_record(record)
            if answer is not None:
                args.append((answer.upstream.arg, answer.value))
        return [*args, (upstreams.BEFORE_ARG, self.before)] if self.before else args


def _shown(values: tuple[str, ...]) -> str:
    return ", ".join(values) or "none"


def of_labels(driver: str, labels: Mapping[str, str], **extra: Any) -> BaseEntry:
    """The entry a base with these labels would lock (``extra``: integrity, runtime, version)."""
    return BaseEntry(
        driver=driver,
        recipe_sha=labels.get(runners.BASE_RECIPE_SHA, ""),
        froms=tuple(_numbered(labels, runners.BASE_FROM)),
        upstreams=tuple(_numbered(labels, runners.BASE_UPSTREAM)),
        before=labels.get(runners.BASE_BEFORE),
        **extra,
    )


def _numbered(labels: Mapping[str, str], prefix: str) -> list[str]:
    found: list[str] = []
    while (value := labels.get(f"{prefix}{len(found)}")) is not None:
        found.append(value)
    return found


@dataclass(frozen=True)
class ImageEntry:
    """A pod service's registry image, locked to the digest ``docker pull`` recorded."""

    service: str
    ref: str  # name:tag@sha256:...


@dataclass(frozen=True)
class Lock:
    path: Path
    bases: Mapping[str, BaseEntry] = field(default_factory=dict)
    images: Mapping[str, ImageEntry] = field(default_factory=dict)

    def with_bases(self, entries: Iterable[BaseEntry]) -> Lock:
        return replace(self, bases={**self.bases, **{entry.driver: entry for entry in entries}})

    def with_images(self, entries: Iterable[ImageEntry]) -> Lock:
        return replace(self, images={**self.images, **{entry.service: entry for entry in entries}})


# --------------------------------------------------------------------------
# Where it is
# --------------------------------------------------------------------------


def locate(
    explicit: str | None,
    configured: Path | None,
    beside: Path | None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """First match wins: ``--lock``, ``$CLAW_LOCK``, ``[pull] lock`` (``configured``), beside
    the target (``beside``: the pod file's, the Clawfile's or the config file's folder), else
    ``$XDG_CONFIG_HOME/claw/claw.lock``."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("CLAW_LOCK"):
        return Path(env["CLAW_LOCK"])
    if configured is not None:
        return configured
    if beside is not None:
        return beside / NAME
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "claw" / NAME


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def read(path: Path) -> Lock | None:
    """The lock at ``path``; None when there is no file."""
    if not path.is_file():
        return None
    return parse(read_input(path, "lock file"), path)


def parse(text: str, path: Path) -> Lock:
    """Every complaint is bad input naming the file, the line and the key."""
    import tomlkit
    from tomlkit.exceptions import ParseError, TOMLKitError

    try:
        document = tomlkit.parse(text)
    except ParseError as exc:
        raise InputError(f"{path}:{exc.line}: {str(exc).rsplit(' at line ', 1)[0]}") from None
    except TOMLKitError as exc:
        raise InputError(f"{path}: {exc}") from None
    reader = _Reader(path, text)
    data = document.unwrap()
    reader.only(data, "", ("base", "image"))
    bases = {driver: _base(reader, driver, body) for driver, body in reader.table(data, "base").items()}
    images = {name: _image(reader, name, body) for name, body in reader.table(data, "image").items()}
    return Lock(path, bases, images)


def _base(reader: _Reader, driver: str, body: Any) -> BaseEntry:
    key = f"base.{driver}"
    if not isinstance(body, dict):
        reader.fail(key, "expected a table")
    reader.only(body, key, _BASE_KEYS)
    if "recipe-sha" not in body:
        reader.fail(f"{key}.recipe-sha", "missing (each locked base records its recipe's sha)")
    sha = reader.string(body, key, "recipe-sha", _RECIPE_SHA, "sha256:<64 hex>")
    froms = reader.strings(body, key, "from", _DIGEST_REF, "an image ref with @sha256:<64 hex>")
    records = reader.strings(body, key, "upstream", None, "")
    for record in records:
        if upstreams.parse_record(record) is None:
            reader.fail(
                f"{key}.upstream", f"not an upstream answer such as npm:openclaw@2026.9.6: {record!r}"
            )
    before = reader.string(body, key, "before", _BEFORE, "an RFC 3339 UTC time such as 2026-12-03T07:15:26Z")
    return BaseEntry(
        driver=driver,
        recipe_sha=sha or "",
        froms=froms,
        upstreams=records,
        before=before,
        integrity=reader.strings(body, key, "integrity", None, ""),
        runtime=reader.strings(body, key, "runtime", None, ""),
        version=reader.string(body, key, "version", None, ""),
    )


def _image(reader: _Reader, service: str, body: Any) -> ImageEntry:
    key = f"image.{service}"
    if not isinstance(body, dict):
        reader.fail(key, "expected a table")
    reader.only(body, key, ("ref",))
    ref = reader.string(body, key, "ref", _DIGEST_REF, "an image ref with @sha256:<64 hex>")
    if ref is None:
        return reader.fail(f"{key}.ref", "missing")
    return ImageEntry(service, ref)


@dataclass(frozen=True)
class _Reader:
    path: Path
    text: str

    def fail(self, key: str, message: str) -> Any:
        raise InputError(f"{self.path}:{self._line(key)}: {key}: {message}")

    def _line(self, key: str) -> int:
        """The line of ``key``: its table's header, then the key inside it (1 if not found)."""
        parts = key.split(".")
        lines = self.text.splitlines()
        start = next((n for n, line in enumerate(lines) if line.strip() == f"[{'.'.join(parts[:2])}]"), None)
        if start is None:
            return 1
        if len(parts) > 2:
            pattern = re.compile(rf"\s*\"?{re.escape(parts[2])}\"?\s*=")
            for n in range(start + 1, len(lines)):
                if lines[n].lstrip().startswith("["):
                    break
                if pattern.match(lines[n]):
                    return n + 1
        return start + 1

    def only(self, table: Mapping[str, Any], prefix: str, allowed: Iterable[str]) -> None:
        for key in table:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else key
                self.fail(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, "expected tables such as [base.openclaw]")
        return value

    def string(
        self, body: Mapping[str, Any], table: str, key: str, pattern: re.Pattern[str] | None, shape: str
    ) -> str | None:
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            self.fail(f"{table}.{key}", f"expected {shape or 'a string'}, got {value!r}")
        return value

    def strings(
        self, body: Mapping[str, Any], table: str, key: str, pattern: re.Pattern[str] | None, shape: str
    ) -> tuple[str, ...]:
        values = body.get(key, [])
        if not isinstance(values, list):
            self.fail(f"{table}.{key}", "expected an array of strings")
        for value in values:
            if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
                self.fail(f"{table}.{key}", f"expected {shape or 'strings'}, got {value!r}")
        return tuple(values)


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def render(lock: Lock) -> str:
    """The file's text: the header, then the tables in sorted order, each key on its line.
    The same lock always renders to the same bytes."""
    import tomlkit

    document = tomlkit.document()
    bases = tomlkit.table(is_super_table=True)
    for driver in sorted(lock.bases):
        bases.add(driver, _base_table(lock.bases[driver]))
    if lock.bases:
        document.add("base", bases)
    images = tomlkit.table(is_super_table=True)
    for service in sorted(lock.images):
        table = tomlkit.table()
        table.add("ref", lock.images[service].ref)
        images.add(service, table)
    if lock.images:
        document.add("image", images)
    return HEADER + "\n" + tomlkit.dumps(document).lstrip("\n")


def _base_table(entry: BaseEntry) -> Any:
    import tomlkit

    values: dict[str, Any] = {
        "before": entry.before,
        "from": list(entry.froms),
        "integrity": list(entry.integrity),
        "recipe-sha": entry.recipe_sha,
        "runtime": list(entry.runtime),
        "upstream": list(entry.upstreams),
        "version": entry.version,
    }
    table = tomlkit.table()
    for key in sorted(values):
        value = values[key]
        if value is None or (value == [] and key in ("integrity", "runtime")):
            continue  # said only when the answers said it
        if isinstance(value, list):
            array = tomlkit.array()
            array.extend(value)
            if value:
                array.multiline(True)
            value = array
        table.add(key, value)
    return table


def diff(old: Lock, new: Lock) -> str:
    """The change from ``old`` to ``new`` as a unified diff of the file ("" when none)."""
    import difflib

    before = render(old).splitlines(keepends=True) if old.bases or old.images else []
    lines = difflib.unified_diff(before, render(new).splitlines(keepends=True), str(old.path), str(new.path))
    return "".join(lines)


def write(lock: Lock) -> None:
    """Atomically: an interrupted write leaves the old file whole."""
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(lock.path, render(lock))
