"""Runner bases as data (SPEC §3, §5): the runner table, which runner a Clawfile
uses, the base an alias resolves to on an engine, and the labels that record it.

Built-in runners ship as data: ``data/runners.toml`` (alias and version probe per
driver) and one recipe Dockerfile per driver in ``data/recipes/``. The config
file's ``[runners.NAME]`` tables override fields of a built-in runner or add a
new one. Every provenance label name claw writes is spelled in this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import refs, upstreams, versions
from .config import DEFAULT_PROBE_TIMEOUT, Config, RunnerSettings
from .errors import ClawError, InputError
from .files import DATA, read_input
from .upstreams import Upstream

if TYPE_CHECKING:
    from .clawfile import Clawfile
    from .engine.docker import Engine, Image, Listed

# On a runner base (labels are inherited by every image built FROM it, so a
# base's own labels are claw.base.*, never the services' claw.runner.*).
BASE_DRIVER = "claw.base.driver"
BASE_RECIPE_SHA = "claw.base.recipe-sha"
BASE_REFRESHED_AT = "claw.base.refreshed-at"
BASE_FROM = "claw.base.from."  # + <i>: the pullable digest ref each FROM image resolved to
BASE_UPSTREAM = "claw.base.upstream."  # + <i>: what each declared upstream named, as recorded
OCI_BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_BEFORE = "claw.base.before"  # the time fence the build's installers were given (SPEC §12.1)
BASE_UPSTREAM_PINNED = "claw.base.upstream-pinned"  # "false": the recipe ignores an answer
BASE_LOCK = "claw.base.lock"  # sha256 of the lock entry's input fields it was built from (§12.2)
LOCK_TAG_PREFIX = "lock-"  # <alias>:lock-<first 12 hex of claw.base.lock>
# On a service image built by `claw build`: the base it was built against (the OCI base
# name and digest then name the runner base, which has no registry digest: "").
RUNNER_DRIVER = "claw.runner.driver"
RUNNER_BUILT_AGAINST = "claw.runner.built-against"
RUNNER_IMAGE_ID = "claw.runner.image-id"
RUNNER_RECIPE_SHA = "claw.runner.recipe-sha"
OCI_BASE_NAME = "org.opencontainers.image.base.name"
# On probe containers: the alias, so leftovers of a killed refresh can be found.
PROBE = "claw.probe"


@dataclass(frozen=True)
class Runner:
    driver: str  # the CLAW_TYPE that selects it
    alias: str  # local image name: <alias>:latest and <alias>:<version tag>
    recipe: str  # the exact Dockerfile text that builds the base
    recipe_path: Path
    probe: tuple[str, ...]  # argv that prints the version; () = no probe
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT
    upstream: tuple[Upstream, ...] = ()  # what livecheck asks besides the FROM digests
    pin: str | None = None  # the config holds the runner at this version tag (SPEC §10)
    locked: str | None = None  # claw.lock holds it at this tag, lock-<hash> (SPEC §12.3)
    runtime_check: bool = True  # check upstream's declared runtime against the FROM images (§12.4)

    @property
    def images(self) -> list[str]:
        """The images the recipe builds from (FROM and COPY --from), in order."""
        from . import dockerfile  # the recipe is read only by the verbs that build

        return dockerfile.base_images(self.recipe, self.recipe_path.name)

    @property
    def recipe_sha(self) -> str:
        """Of the recipe text with its line endings normalised to LF (a checkout with CRLF
        endings locks the same recipe)."""
        import hashlib

        text = self.recipe.replace("\r\n", "\n")
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    @property
    def unpinned(self) -> tuple[Upstream, ...]:
        """The upstreams whose answer the recipe does not take (no ``ARG CLAW_UPSTREAM_...``):
        the build installs whatever upstream serves then, not what livecheck saw."""
        from . import dockerfile

        declared = dockerfile.declared_args(self.recipe, self.recipe_path.name)
        return tuple(upstream for upstream in self.upstream if upstream.arg not in declared)

    @property
    def latest(self) -> str:
        return f"{self.alias}:latest"

    @property
    def current(self) -> str:
        """The base builds use and drift is measured against: the pin, else the lock's, else latest."""
        return f"{self.alias}:{self.pin or self.locked or 'latest'}"


def require_pins(engine: Engine, used: Iterable[Runner], images: Mapping[str, Image]) -> None:
    """A pinned runner whose pin is not among ``images`` (what one inspect found) is bad
    input: the config is what is wrong, whatever the verb."""
    for runner in used:
        if runner.pin and runner.current not in images:
            raise pin_not_here(runner, versions_here(engine, runner.alias))


def pin_not_here(runner: Runner, here: str) -> InputError:
    """A pin names a version tag that is not on this host: bad input, with both fixes.
    ``here``: the versions on the host, as ``versions_here`` says them."""
    return InputError(
        f"runner {runner.driver}: pinned at {runner.pin}, but {runner.current} is not on this host "
        f"(versions here: {here})",
        hint=f"fix: pin a version that is here, or remove `pin` from [runners.{runner.driver}] in the "
        f"config (claw pull then installs the newest; claw pull --rollback {runner.driver}:TAG goes "
        "back to a version here)",
    )


@cache
def builtin() -> Mapping[str, Runner]:
    """The runners that ship with claw, by driver."""
    import tomlkit

    rows = tomlkit.parse((DATA / "runners.toml").read_text(encoding="utf-8")).unwrap()
    table = {}
    for driver, row in rows.items():
        path = DATA / "recipes" / f"{driver}.Dockerfile"
        probe = tuple(str(arg) for arg in row.get("probe", []))
        upstream = tuple(upstreams.parse(str(spec)) for spec in row.get("upstream", []))
        recipe = path.read_text(encoding="utf-8")
        table[driver] = Runner(driver, str(row["alias"]), recipe, path, probe, upstream=upstream)
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
        _check_args(config, runner)
    return runners


class Locked(Protocol):
    """What holding a runner reads of its claw.lock entry (``lockfile.BaseEntry``, which
    names these labels: the arrow goes from the lock to the runners, never back)."""

    @property
    def tag(self) -> str: ...  # lock-<hash>

    @property
    def version(self) -> str | None: ...


def held_by(table: Mapping[str, Runner], locked: Mapping[str, Locked]) -> dict[str, Runner]:
    """``table`` with each runner that claw.lock names held at its ``lock-<hash>`` tag. A
    runner the config pins and the lock names is bad input: two answers to one question."""
    held = dict(table)
    for driver, entry in locked.items():
        runner = table.get(driver)
        if runner is None:
            continue
        if runner.pin:
            raise InputError(
                f"runner {driver}: pinned at {runner.pin} in the config and locked in claw.lock "
                f"({entry.version or entry.tag})",
                hint=f"fix: remove `pin` from [runners.{driver}], or remove [base.{driver}] from claw.lock",
            )
        held[driver] = dataclasses.replace(runner, locked=entry.tag)
    return held


def _check_args(config: Config, runner: Runner) -> None:
    """Each upstream's answer reaches the build as its own ARG (SPEC §12.1): two upstreams
    of one runner must not share one, and none may be the time fence's."""
    named: dict[str, Upstream] = {}
    for upstream in runner.upstream:
        other = named.get(upstream.arg)
        if upstream.arg == upstreams.BEFORE_ARG or other is not None:
            clash = "the time fence" if other is None else f"upstream {other}"
            raise InputError(
                f"{config.path or 'runner table'}: runners.{runner.driver}.upstream: {upstream} passes "
                f"its answer as {upstream.arg}, the build argument of {clash}; rename one of them"
            )
        named[upstream.arg] = upstream


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
        upstream=settings.upstream if settings.upstream is not None else (base.upstream if base else ()),
        pin=settings.pin,
        runtime_check=settings.runtime_check if settings.runtime_check is not None else True,
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


HERMES = "hermes"  # upstream's driver on a pinned published base: no runner base to refresh


def used_by(clawfile: Clawfile, runners: Mapping[str, Runner]) -> Runner | None:
    """The runner a Clawfile uses: its CLAW_TYPE's runner, when a FROM names its alias."""
    runner = runner_of(clawfile, runners)
    return runner if runner is not None and stages_using(clawfile, runner.alias) else None


def runner_of(clawfile: Clawfile, runners: Mapping[str, Runner]) -> Runner | None:
    """The runner of the Clawfile's CLAW_TYPE; None for ``hermes``; an unknown driver is bad
    input naming the file, the line, the drivers claw knows and the closest one."""
    driver = clawfile.claw_type
    runner = runners.get(driver)
    if runner is not None or driver == HERMES:
        return runner
    import difflib

    known = sorted([*runners, HERMES])
    close = difflib.get_close_matches(driver, known, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    line = next((item.lineno for item in clawfile.items if item.keyword == "CLAW_TYPE"), None)
    where = f"{clawfile.name}:{line}" if line else clawfile.name
    raise InputError(
        f"{where}: no runner for CLAW_TYPE {driver!r} (known: {', '.join(known)}){guess} "
        f"(a new runner: add [runners.{driver}] with a recipe to the config file)"
    )


def aliases(runners: Iterable[Runner]) -> dict[str, Runner]:
    return {runner.alias: runner for runner in runners}


# --------------------------------------------------------------------------
# The base a FROM names, resolved on an engine
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """A FROM that names a runner alias."""

    stage: int
    runner: Runner
    written: str  # the image as the Clawfile writes it
    pinned: bool  # a tag other than latest, or a digest: kept as written

    @property
    def lookup(self) -> str:
        return self.written if self.pinned else self.runner.current


def uses(clawfile: Clawfile | None, runners: Mapping[str, Runner]) -> list[Use]:
    """The FROMs that name the alias of the runner the Clawfile uses (see ``used_by``)."""
    runner = used_by(clawfile, runners) if clawfile else None
    if clawfile is None or runner is None:
        return []
    return [
        Use(number, runner, str(image), image.digest is not None or image.tag not in (None, "latest"))
        for number, image in stages_using(clawfile, runner.alias)
    ]


@dataclass(frozen=True)
class Base:
    """The runner base a build uses, resolved on an engine."""

    runner: Runner
    ref: str  # <alias>:<version tag> (or the pinned ref as written)
    image_id: str
    recipe_sha: str | None

    def labels(self) -> dict[str, str]:
        """The provenance labels of a service image built on this base."""
        labels = {
            RUNNER_DRIVER: self.runner.driver,
            RUNNER_BUILT_AGAINST: self.ref,
            RUNNER_IMAGE_ID: self.image_id,
        }
        if self.recipe_sha:
            labels[RUNNER_RECIPE_SHA] = self.recipe_sha
        labels[OCI_BASE_NAME] = self.ref
        labels[OCI_BASE_DIGEST] = ""  # a local base has no registry digest; not the base's own
        return labels


def ready(use: Use, images: Mapping[str, Image]) -> bool:
    """Whether the base ``use`` needs is among ``images``, with a version tag."""
    found = images.get(use.lookup)
    return found is not None and (
        use.pinned
        or use.runner.pin is not None
        or use.runner.locked is not None
        or versions.tag_of(use.runner.alias, found.repo_tags) is not None
    )


def bases_of(engine: Engine, all_uses: list[Use], remedy: str) -> dict[str, Base]:
    """Base per lookup ref (one docker call), or a ClawError naming every missing base and the fix.

    A missing floating base is fixed by ``remedy`` (a `claw pull`); a missing pinned
    version is not (pull installs the newest), so the error names the versions here."""
    images = engine.inspect_images(use.lookup for use in all_uses)
    require_pins(engine, (use.runner for use in all_uses if not use.pinned), images)
    bases: dict[str, Base] = {}
    problems: list[str] = []
    pinned_missing: list[Use] = []
    for use in all_uses:
        if use.lookup in bases:
            continue
        found = images.get(use.lookup)
        if found is None and use.pinned:
            pinned_missing.append(use)
        elif found is None:
            problems.append(f"{use.runner.current} is not on this host")
        elif (ref := _built_against(use, found)) is None:
            problems.append(f"{use.runner.latest} has no version tag (built by hand?)")
        else:
            bases[use.lookup] = Base(use.runner, ref, found.id, found.labels.get(BASE_RECIPE_SHA))
    if pinned_missing:
        problems += [_pinned_missing(engine, use) for use in pinned_missing]
    if problems:
        hint = f"run: {remedy}" if len(problems) > len(pinned_missing) else _PIN_FIX
        raise ClawError("runner base not ready: " + "; ".join(dict.fromkeys(problems)), hint=hint)
    return bases


def _built_against(use: Use, found: Image) -> str | None:
    """The ref a service records as built against: as pinned, else the base's version tag
    (a locked base without a free version tag: its lock tag)."""
    if use.pinned or use.runner.pin:
        return use.lookup
    ref = version_ref(use.runner.alias, found)
    return ref or (use.lookup if use.runner.locked else None)


_PIN_FIX = (
    "fix: write FROM <alias> without a version (claw pins it to the version on this host "
    "at build time), or pin a version that is here; claw pull installs only the newest"
)


def version_ref(alias: str, image: Image) -> str | None:
    """``<alias>:<version tag>`` of an image of the alias, from its RepoTags."""
    tag = versions.tag_of(alias, image.repo_tags)
    return f"{alias}:{tag}" if tag else None


def _pinned_missing(engine: Engine, use: Use) -> str:
    return f"{use.written} is not on this host (versions here: {versions_here(engine, use.runner.alias)})"


def versions_here(engine: Engine, alias: str) -> str:
    """The version tags of ``alias`` on the engine, as messages say them (one docker call)."""
    return listing(row for row in engine.list_images([alias]) if row.repository == alias)


def listing(rows: Iterable[Listed]) -> str:
    """The version tags among ``rows``, newest first, comma-separated; ``none`` when none."""
    return ", ".join(row.tag for row in newest_first(rows)) or "none"


def newest_first(rows: Iterable[Listed]) -> list[Listed]:
    """The version tags among ``rows``, newest first: by the image's creation time (version
    strings do not sort across schemes: calendar versions, ``built-...``), then as versions."""
    tagged = (row for row in rows if versions.is_versioned(row.tag))
    return sorted(tagged, key=lambda row: (row.created, versions.sort_key(row.tag)), reverse=True)
