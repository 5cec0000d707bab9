"""The optional config file (SPEC §2.3), parsed with tomlkit into frozen dataclasses.

Lookup order: ``--config``, ``$CLAW_CONFIG``, ``$XDG_CONFIG_HOME/claw/config.toml``
(``~/.config/claw/config.toml``). A file named explicitly must exist; the XDG one is
optional. Unknown keys and wrong types are errors naming the file and the key.
Paths inside are relative to the config file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from . import infra, refs, upstreams, versions
from .errors import InputError
from .files import read_input
from .upstreams import Upstream

DEFAULT_JOBS = 2
DEFAULT_RETRIES = 3
DEFAULT_KEEP = 3
DEFAULT_PROBE_TIMEOUT = 60.0
DEFAULT_MAX_AGE = 7 * 24 * 3600  # seconds: a base older than this is rebuilt (`[pull] max_age`)
_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class RunnerSettings:
    """A ``[runners.NAME]`` table: an override of a built-in runner or a new one."""

    name: str
    alias: str | None = None
    recipe: Path | None = None
    probe: tuple[str, ...] | None = None  # () = no probe
    probe_timeout: float | None = None
    upstream: tuple[Upstream, ...] | None = None  # () = image digests only
    pin: str | None = None  # a version tag of the alias that holds the runner (SPEC §10)
    runtime_check: bool | None = None  # false: do not check upstream's runtime range (SPEC §12.4)


@dataclass(frozen=True)
class PullSettings:
    jobs: int = DEFAULT_JOBS
    retries: int = DEFAULT_RETRIES
    keep: int = DEFAULT_KEEP
    max_age: int = DEFAULT_MAX_AGE  # seconds; 0 = always rebuild
    lock: Path | None = None  # where claw.lock is (SPEC §12.2); relative to the config file


@dataclass(frozen=True)
class LivecheckSettings:
    """``[livecheck]``: where to ask npm and PyPI (None: the environment, then the public ones)."""

    npm: str | None = None
    pypi: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    infra: Mapping[str, str] = field(default_factory=dict)
    runners: Mapping[str, RunnerSettings] = field(default_factory=dict)
    pull: PullSettings = PullSettings()
    livecheck: LivecheckSettings = LivecheckSettings()


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
    reader.only(data, "", {"infra", "runners", "pull", "livecheck"})
    return Config(
        path=path,
        infra=_infra(reader, data.get("infra", {})),
        runners=_runners(reader, data.get("runners", {})),
        pull=_pull(reader, data.get("pull", {})),
        livecheck=_livecheck(reader, data.get("livecheck", {})),
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
    reader.only(body, key, {"alias", "recipe", "probe", "probe_timeout", "upstream", "pin", "runtime_check"})
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
    upstream = _upstream(reader, key, body.get("upstream"))
    check = body.get("runtime_check")
    if check is not None:
        check = reader.typed(check, f"{key}.runtime_check", bool, "true or false")
    pin = _pin(reader, key, body.get("pin"))
    return RunnerSettings(name, alias, recipe, probe, timeout, upstream, pin, check)


def _pin(reader: _Reader, key: str, value: Any) -> str | None:
    if value is None:
        return None
    tag = reader.typed(value, f"{key}.pin", str, 'a version tag such as "v2026.5.22"')
    if not (refs.is_tag(tag) and versions.is_versioned(tag)):
        reader.fail(
            f"{key}.pin",
            f"expected a version tag of the runner (v<version> or built-...), got {tag!r}; "
            "`docker image ls <alias>` lists the versions on this host",
        )
    return tag


def _upstream(reader: _Reader, key: str, value: Any) -> tuple[Upstream, ...] | None:
    if value is None:
        return None
    specs = reader.typed(value, f"{key}.upstream", list, "a list of strings")
    parsed = []
    for spec in specs:
        if not isinstance(spec, str):
            reader.fail(f"{key}.upstream", f'expected strings such as "npm:openclaw", got {spec!r}')
        try:
            parsed.append(upstreams.parse(spec))
        except ValueError as exc:
            reader.fail(f"{key}.upstream", str(exc))
    return tuple(parsed)


def _pull(reader: _Reader, table: Any) -> PullSettings:
    reader.table(table, "pull")
    reader.only(table, "pull", {"jobs", "retries", "keep", "max_age", "lock"})
    values = {
        key: reader.number(table[key], f"pull.{key}", minimum=1, integer=True)
        for key in table
        if key not in ("max_age", "lock")
    }
    if "max_age" in table:
        values["max_age"] = _duration(reader, table["max_age"], "pull.max_age")
    if "lock" in table:
        text = reader.typed(table["lock"], "pull.lock", str, "a path")
        values["lock"] = Path(text) if os.path.isabs(text) else reader.path.parent / text
    return PullSettings(**values)


def _duration(reader: _Reader, value: Any, key: str) -> int:
    """``"7d"``, ``"36h"``, ``"90m"``, ``"3600s"`` or a number of seconds; 0 is allowed."""
    match = _DURATION.match(str(value).strip()) if isinstance(value, (str, int)) else None
    if isinstance(value, bool) or match is None:
        reader.fail(key, f'expected a duration such as "7d", "12h" or 0, got {value!r}')
    return int(match[1]) * _SECONDS[match[2]]


def _livecheck(reader: _Reader, table: Any) -> LivecheckSettings:
    reader.table(table, "livecheck")
    reader.only(table, "livecheck", {"npm", "pypi"})
    urls = {key: reader.typed(table[key], f"livecheck.{key}", str, "a URL") for key in table}
    for key, url in urls.items():
        try:
            upstreams.endpoints(**{key: url}, environ={})
        except ValueError as exc:
            reader.fail(f"livecheck.{key}", str(exc))
    return LivecheckSettings(**urls)


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
