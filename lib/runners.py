"""The runner table (SPEC §3): which runner base a driver uses, and how it is made.

Built-in runners ship as data: ``data/runners.toml`` (alias and version probe per
driver) and one recipe Dockerfile per driver in ``data/recipes/``. The config
file's ``[runners.NAME]`` tables override fields of a built-in runner or add a
new one.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lib import refs
from lib.clawfile import Clawfile
from lib.config import DEFAULT_PROBE_TIMEOUT, Config, RunnerSettings
from lib.errors import InputError
from lib.files import read_input

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Runner:
    driver: str  # the CLAW_TYPE that selects it
    alias: str  # local image name: <alias>:latest and <alias>:<version tag>
    recipe: str  # the exact Dockerfile text that builds the base
    recipe_path: Path
    probe: tuple[str, ...]  # argv that prints the version; () = no probe
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT

    @property
    def recipe_sha(self) -> str:
        return "sha256:" + hashlib.sha256(self.recipe.encode()).hexdigest()

    @property
    def latest(self) -> str:
        return f"{self.alias}:latest"


@cache
def builtin() -> Mapping[str, Runner]:
    """The runners that ship with claw, by driver."""
    with (DATA / "runners.toml").open("rb") as handle:
        rows = tomllib.load(handle)
    table = {}
    for driver, row in rows.items():
        path = DATA / "recipes" / f"{driver}.Dockerfile"
        probe = row.get("probe", [])
        assert isinstance(probe, list)
        table[driver] = Runner(driver, str(row["alias"]), path.read_text(), path, tuple(map(str, probe)))
    return table


def table(config: Config) -> dict[str, Runner]:
    """Built-in runners with the config's overrides and additions, by driver."""
    runners = dict(builtin())
    for name, settings in config.runners.items():
        runners[name] = _merge(config, runners.get(name), settings)
    seen: dict[str, str] = {}
    for driver, runner in runners.items():
        if runner.alias in seen:
            raise InputError(
                f"{config.path}: runners.{driver}.alias: {runner.alias!r} is already "
                f"the alias of runner {seen[runner.alias]!r}"
            )
        seen[runner.alias] = driver
    return runners


def _merge(config: Config, base: Runner | None, settings: RunnerSettings) -> Runner:
    if base is None and settings.recipe is None:
        raise InputError(
            f"{config.path}: runners.{settings.name}: a new runner needs `recipe` "
            f"(built-in runners: {', '.join(builtin())})"
        )
    recipe_path = settings.recipe or (base.recipe_path if base else None)
    assert recipe_path is not None
    recipe = read_input(recipe_path, "recipe") if settings.recipe else (base.recipe if base else "")
    return Runner(
        driver=settings.name,
        alias=settings.alias or (base.alias if base else settings.name),
        recipe=recipe,
        recipe_path=recipe_path,
        probe=settings.probe if settings.probe is not None else (base.probe if base else ()),
        probe_timeout=settings.probe_timeout or (base.probe_timeout if base else DEFAULT_PROBE_TIMEOUT),
    )


def stages_using(clawfile: Clawfile, alias: str) -> list[tuple[int, refs.Ref]]:
    """The stages whose FROM names ``alias`` (any tag or digest), with the parsed image.

    A FROM that names an earlier stage (``FROM base``) is that stage, not an image,
    even when the stage is called like the alias."""
    found, stage_names = [], set()
    for number, stage in enumerate(clawfile.stages):
        parsed = refs.parse(stage.image)
        if parsed is not None and parsed.name == alias and stage.image.lower() not in stage_names:
            found.append((number, parsed))
        if stage.name:
            stage_names.add(stage.name.lower())
    return found


def used_by(clawfile: Clawfile, runners: Mapping[str, Runner]) -> Runner | None:
    """The runner a Clawfile uses: its CLAW_TYPE's runner, when a FROM names its alias."""
    runner = runners.get(clawfile.claw_type)
    return runner if runner is not None and stages_using(clawfile, runner.alias) else None


def for_driver(driver: str, runners: Mapping[str, Runner], where: str) -> Runner:
    """The runner of a driver, or an input error naming ``where``."""
    runner = runners.get(driver)
    if runner is None:
        known = ", ".join(sorted(runners))
        raise InputError(
            f"{where}: no runner for CLAW_TYPE {driver!r} (known: {known}); "
            f"add [runners.{driver}] with a recipe to the config file"
        )
    return runner


def aliases(runners: Iterable[Runner]) -> dict[str, Runner]:
    return {runner.alias: runner for runner in runners}
