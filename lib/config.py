"""The optional config file (SPEC §2.3), parsed with tomlkit into frozen dataclasses.

Lookup order: ``--config``, ``$CLAW_CONFIG``, ``$XDG_CONFIG_HOME/claw/config.toml``
(``~/.config/claw/config.toml``). A file named explicitly must exist; the XDG one is
optional. Unknown keys and wrong types are errors naming the file and the key.
Paths inside are relative to the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from lib import infra, refs
from lib.errors import InputError
from lib.files import read_input

DEFAULT_JOBS = 2
DEFAULT_RETRIES = 3
DEFAULT_KEEP = 3
DEFAULT_PROBE_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunnerSettings:
    """A ``[runners.NAME]`` table: an override of a built-in runner or a new one."""

    name: str
    alias: str | None = None
    recipe: Path | None = None
    probe: tuple[str, ...] | None = None  # () = no probe
    probe_timeout: float | None = None


@dataclass(frozen=True)
class PullSettings:
    jobs: int = DEFAULT_JOBS
    retries: int = DEFAULT_RETRIES
    keep: int = DEFAULT_KEEP


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    infra: Mapping[str, str] = field(default_factory=dict)
    runners: Mapping[str, RunnerSettings] = field(default_factory=dict)
    pull: PullSettings = PullSettings()


def locate(explicit: str | None, environ: Mapping[str, str] | None = None) -> tuple[Path | None, bool]:
    """The config path to read and whether it must exist."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit), True
    if env.get("CLAW_CONFIG"):
        return Path(env["CLAW_CONFIG"]), True
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "claw" / "config.toml", False


def load(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    path, required = locate(explicit, environ)
    if path is None or (not required and not path.is_file()):
        return Config()
    return parse(read_input(path, "config file"), path)


def parse(text: str, path: Path) -> Config:
    import tomlkit
    from tomlkit.exceptions import ParseError, TOMLKitError

    try:
        data = tomlkit.parse(text).unwrap()
    except ParseError as exc:
        raise InputError(f"{path}:{exc.line}: {_parse_message(exc)}") from None
    except TOMLKitError as exc:  # e.g. a key defined twice in one table
        raise InputError(f"{path}: {exc}") from None
    reader = _Reader(path)
    reader.only(data, "", {"infra", "runners", "pull"})
    return Config(
        path=path,
        infra=_infra(reader, data.get("infra", {})),
        runners=_runners(reader, data.get("runners", {})),
        pull=_pull(reader, data.get("pull", {})),
    )


def _parse_message(exc: Exception) -> str:
    message = str(exc)
    return message.rsplit(" at line ", 1)[0]


def _infra(reader: _Reader, table: Any) -> dict[str, str]:
    reader.table(table, "infra")
    reader.only(table, "infra", set(infra.components()))
    pins = {}
    for name, value in table.items():
        ref = reader.typed(value, f"infra.{name}", str, "a string")
        if not refs.is_valid(ref):
            reader.fail(f"infra.{name}", f"not a valid image reference: {ref!r}")
        pins[name] = ref
    return pins


def _runners(reader: _Reader, table: Any) -> dict[str, RunnerSettings]:
    reader.table(table, "runners")
    return {name: _runner(reader, name, body) for name, body in table.items()}


def _runner(reader: _Reader, name: str, body: Any) -> RunnerSettings:
    key = f"runners.{name}"
    reader.table(body, key)
    reader.only(body, key, {"alias", "recipe", "probe", "probe_timeout"})
    alias = body.get("alias")
    if alias is not None:
        alias = reader.typed(alias, f"{key}.alias", str, "a string")
        if refs.sanitize_name(alias) != alias or "/" in alias:
            reader.fail(f"{key}.alias", f"not a valid local image name: {alias!r}")
    recipe = body.get("recipe")
    if recipe is not None:
        recipe = reader.file(reader.typed(recipe, f"{key}.recipe", str, "a path"), f"{key}.recipe")
    probe = body.get("probe")
    if probe is not None:
        probe = tuple(reader.typed(probe, f"{key}.probe", list, "a list of strings"))
        if not all(isinstance(arg, str) and arg for arg in probe):
            reader.fail(f"{key}.probe", "expected a list of non-empty strings")
    timeout = body.get("probe_timeout")
    if timeout is not None:
        timeout = float(reader.number(timeout, f"{key}.probe_timeout", minimum=1))
    return RunnerSettings(name, alias, recipe, probe, timeout)


def _pull(reader: _Reader, table: Any) -> PullSettings:
    reader.table(table, "pull")
    reader.only(table, "pull", {"jobs", "retries", "keep"})
    values = {key: reader.number(table[key], f"pull.{key}", minimum=1, integer=True) for key in table}
    return PullSettings(**values)


T = TypeVar("T")


@dataclass(frozen=True)
class _Reader:
    """Checks one document; every complaint names the file and the key."""

    path: Path

    def fail(self, key: str, message: str) -> NoReturn:
        raise InputError(f"{self.path}: {key}: {message}")

    def table(self, value: Any, key: str) -> None:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_type_name(value)}")

    def only(self, table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else key
                self.fail(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def typed(self, value: Any, key: str, kind: type[T], expected: str) -> T:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.fail(key, f"expected {expected}, got {_type_name(value)}")
        return value

    def number(self, value: Any, key: str, *, minimum: float, integer: bool = False) -> Any:
        numeric = isinstance(value, int) or (not integer and isinstance(value, float))
        if isinstance(value, bool) or not numeric:
            self.fail(key, f"expected {'an integer' if integer else 'a number'}, got {_type_name(value)}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum:g}, got {value}")
        return value

    def file(self, text: str, key: str) -> Path:
        path = Path(text) if os.path.isabs(text) else self.path.parent / text
        if not path.is_file():
            self.fail(key, f"file not found: {path}")
        return path


_TYPE_NAMES: Mapping[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "a table",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)
