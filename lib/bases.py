"""A runner base's generations on the host: what ``latest`` is, every tag of an alias,
the versions kept and who uses them, the lock that serialises changes to an alias, and
going back (SPEC §3.1, §10, §11). The refresh transaction is ``transaction.py``; the
questions livecheck asks are ``asking.py``.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import livecheck, locks, runners, versions
from .engine import lock
from .engine.docker import Engine, Listed
from .errors import DockerError
from .events import Events
from .policy import Options
from .runners import Runner
from .status import Status
from .versions import short_id


@dataclass(frozen=True)
class Installed:
    """What ``<alias>:latest`` is."""

    image_id: str
    version: str | None  # its version tag; None when built by hand (needs a refresh)


class Unknown:
    """The alias could not be read (say, the engine went away)."""


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Outcome:
    runner: Runner
    status: Status  # INSTALLED | REBUILT | FAILED | NOT_ATTEMPTED
    previous: Installed | Unknown | None = None
    version: str | None = None
    image_id: str | None = None
    reason: str | None = None
    hint: str | None = None
    log: Path | None = None
    removed: tuple[str, ...] = ()
    why: tuple[str, ...] = ()  # what moved upstream (livecheck), for the line
    steady: tuple[str, ...] = ()  # what held, for an up-to-date line
    doing: str = "refresh"  # what failed, for the line: refresh | rollback | "" (the reason says)
    direction: str = "back"  # where a rollback moved latest: back | forward (to a newer version)
    locked: str | None = None  # claw.lock: the lock-<hash> tag of the base
    available: tuple[str, ...] = ()  # claw.lock: what upstream has beyond it ("npm:x 2.0 available")
    warning: str | None = None  # something the operator should know of a base that did build

    @property
    def failed(self) -> bool:
        return self.status.failed

    def line(self) -> str:
        warning = f" (warning: {self.warning})" if self.warning else ""
        return f"{self.runner.alias}: {self._says()}{warning}"

    def _says(self) -> str:
        before = self.previous
        if self.status is Status.NOT_ATTEMPTED:
            return f"{self.reason}; {self._kept()}"
        if self.status is Status.FAILED:
            doing = f"{self.doing} failed: " if self.doing else ""
            return f"{doing}{self.reason}; {self._kept()}"
        assert not isinstance(before, Unknown)  # only failures lack a previous state
        if self.status is Status.PINNED:
            return f"pinned at {self.version}"
        if self.status is Status.BUILT_LOCKED:
            return f"built {self.version} from claw.lock ({self.locked})"
        if self.status is Status.LOCKED:
            beyond = "; ".join(self.available)
            update = f"{beyond}; claw pull --update-lock={self.runner.driver}" if beyond else ""
            return f"locked at {self.version}" + (f" ({update})" if update else "")
        if self.status in (Status.ROLLED_BACK, Status.WOULD_ROLL_BACK) and before is not None:
            was = before.version or f"untagged, image {short_id(before.image_id)}"
            if self.status is Status.WOULD_ROLL_BACK:
                return f"would roll {self.direction} to {self.version} (now {was})"
            return f"rolled {self.direction} to {self.version} (was {was})"
        why = "".join(f"{text}; " for text in self.why)
        if self.status is Status.UP_TO_DATE and before is not None and not self.steady:
            return f"already at {before.version}"
        if self.status is Status.UP_TO_DATE and before is not None:
            return f"up to date {before.version} ({'; '.join(self.steady)})"
        if self.status is Status.REBUILT and before is not None:
            return (
                f"rebuilt {self.version} (same version; {why}image {short_id(self.image_id or '')}, "
                f"was {short_id(before.image_id)})"
            )
        if before is None:
            return f"installed {self.version}"
        was = before.version or f"an untagged {self.runner.latest}, image {short_id(before.image_id)}"
        return f"installed {self.version} (was {was}" + "".join(f"; {text}" for text in self.why) + ")"

    def _kept(self) -> str:
        before = self.previous
        if isinstance(before, Unknown):
            return f"{self.runner.alias} left as it was"
        if before is None:
            return f"{self.runner.alias} is not installed"
        if before.version is None:
            return f"kept {self.runner.latest} (image {short_id(before.image_id)})"
        return f"kept {self.runner.alias}:{before.version}"


@dataclass(frozen=True)
class Tags:
    """Every tag of an alias, read with one ``docker image ls``."""

    alias: str
    rows: tuple[Listed, ...]

    @classmethod
    def read(cls, engine: Engine, alias: str) -> Tags:
        return cls(alias, tuple(row for row in engine.list_images([alias]) if row.repository == alias))

    @property
    def temporary(self) -> tuple[Listed, ...]:
        return tuple(row for row in self.rows if row.tag.startswith(versions.TEMPORARY_PREFIX))

    def id_of(self, tag: str) -> str | None:
        return next((row.id for row in self.rows if row.tag == tag), None)

    def installed(self) -> Installed | None:
        """What ``<alias>:latest`` is, with its version tag."""
        latest = self.id_of("latest")
        if latest is None:
            return None
        names = [row.ref for row in self.rows if row.id == latest]
        return Installed(latest, versions.tag_of(self.alias, names))

    def by_age(self) -> list[Listed]:
        """The version tags, newest first (``runners.newest_first``)."""
        return runners.newest_first(self.rows)


@dataclass(frozen=True)
class Generation:
    """One version of a runner on the host (``pull --json``, ``pull --check``)."""

    tag: str
    image_id: str
    created: str
    latest: bool  # <alias>:latest names this image
    pinned: bool  # the config's pin names this tag
    used_by: tuple[str, ...]  # local service images built against it

    def to_json(self) -> dict[str, object]:
        return {
            "tag": self.tag, "image_id": self.image_id, "created": self.created, "latest": self.latest,
            "pinned": self.pinned, "used_by": list(self.used_by),
        }  # fmt: skip

    def line(self) -> str:
        marks = [m for m, on in (("latest", self.latest), ("pinned", self.pinned)) if on]
        if self.used_by:
            marks.append("used by " + ", ".join(self.used_by))
        extra = f" ({'; '.join(marks)})" if marks else ""
        return f"{self.tag}  image {short_id(self.image_id)}  created {self.created}{extra}"


def in_use(engine: Engine) -> set[str]:
    """The image IDs something here uses: a container's image, or the base a local service
    image was built against (what pruning and the lock's untagging must spare)."""
    return engine.container_image_ids() | set(users(engine))


def users(engine: Engine) -> dict[str, tuple[str, ...]]:
    """Base image ID -> the local service images built against it (two docker calls)."""
    found: dict[str, list[str]] = {}
    for image in engine.images_with_label(runners.RUNNER_IMAGE_ID):
        names = image.repo_tags or (f"an untagged image {short_id(image.id)}",)
        found.setdefault(image.labels[runners.RUNNER_IMAGE_ID], []).extend(names)
    return {base: tuple(sorted(names)) for base, names in found.items()}


def generations(engine: Engine, runner: Runner, used: dict[str, tuple[str, ...]]) -> list[Generation]:
    """The versions of ``runner`` on the host, newest first (one docker call)."""
    tags = Tags.read(engine, runner.alias)
    latest = tags.id_of("latest")
    return [
        Generation(
            row.tag, row.id, row.created, row.id == latest, row.tag == runner.pin, used.get(row.id, ())
        )
        for row in tags.by_age()
    ]


def lock_name(alias: str) -> str:
    return f"runner-{alias}"


@contextlib.contextmanager
def locked(engine: Engine, alias: str, options: Options, events: Events) -> Iterator[bool]:
    """Refreshes and rollbacks of ``alias`` one at a time, for everyone who drives this
    engine (SPEC §3.1, §11): the host lock first, so waiters on one host wait without
    docker calls, then the engine's. Yields whether a holder died holding either (what
    it was doing may be half done)."""
    name = lock_name(alias)

    def waiting_for(owner: lock.Owner) -> None:
        held = livecheck.duration(max(time.time() - owner.since, 0))
        remove = shlex.join(engine.docker("rm", "--force", lock.container_name(name)))
        events.progress(
            alias,
            f"waiting: {owner.describe()} is refreshing this runner on this engine ({held} so far; "
            f"if that host is gone for good: {remove})",
        )

    def took_over(owner: lock.Owner, why: str) -> None:
        events.warn(f"{alias}: took over the engine lock of {owner.describe()}: {why}")

    def waiting_here() -> None:
        _waiting(events, alias)

    with (
        locks.hold_on_host(name, engine.where, on_wait=waiting_here, cancel=options.cancel) as held,
        lock.hold_on_engine(
            engine, name, on_wait=waiting_for, on_takeover=took_over, cancel=options.cancel
        ) as stale,
    ):
        yield held.abandoned or stale


def _waiting(events: Events, alias: str) -> None:
    events.progress(alias, "waiting: another claw pull on this host is refreshing this runner")


def current(engine: Engine, runner: Runner) -> Installed | None:
    return Tags.read(engine, runner.alias).installed()


# --------------------------------------------------------------------------
# Going back (SPEC §10)
# --------------------------------------------------------------------------


def rollback(
    engine: Engine, runner: Runner, to: str | None, options: Options, events: Events, *, dry_run: bool = False
) -> Outcome:
    """Move ``<alias>:latest`` to the newest version older than the one it names now, or
    to the version tag ``to``: one ``docker tag`` under the alias's lock, nothing built,
    pulled or removed. The tag is atomic: an interruption leaves latest moved or not."""
    alias = runner.alias
    with contextlib.nullcontext() if dry_run else locked(engine, alias, options, events):
        tags = Tags.read(engine, alias)
        installed, rows = tags.installed(), tags.by_age()
        made = next((row.created for row in tags.rows if row.tag == "latest"), "")
        chosen = _going_to(alias, rows, installed, to, made)
        if isinstance(chosen, str):
            return Outcome(runner, Status.FAILED, installed, reason=chosen, doing="rollback")
        assert installed is not None
        if chosen.id == installed.image_id:
            return Outcome(runner, Status.UP_TO_DATE, Installed(installed.image_id, chosen.tag))
        direction = "back" if rows.index(chosen) > _position(rows, installed) else "forward"
        if dry_run:
            return Outcome(
                runner, Status.WOULD_ROLL_BACK, installed, chosen.tag, chosen.id, direction=direction
            )
        options.check()
        try:
            engine.tag(chosen.id, runner.latest)
        except DockerError as exc:
            return Outcome(
                runner, Status.FAILED, installed, reason=exc.reason, hint=exc.hint, doing="rollback"
            )
    return Outcome(runner, Status.ROLLED_BACK, installed, chosen.tag, chosen.id, direction=direction)


def _going_to(
    alias: str, rows: list[Listed], installed: Installed | None, to: str | None, made: str = ""
) -> Listed | str:
    """The version latest moves to among ``rows`` (the alias's versions, newest first),
    or why there is none."""
    here = f"versions here: {runners.listing(rows)}"
    if installed is None:
        return f"nothing installed: no {alias}:latest ({here})"
    if to is not None:
        found = next((row for row in rows if row.tag == to), None)
        return found or f"{alias}:{to} is not on this host ({here})"
    position = _position(rows, installed)
    if position >= 0:
        older = [row for row in rows[position + 1 :] if row.id != installed.image_id]
    else:  # latest carries no version tag: the versions created before its image (``made``)
        older = [row for row in rows if row.id != installed.image_id and row.created < made]
    if not older:
        return f"no version older than {installed.version or 'the untagged latest'} on this host ({here})"
    return older[0]


def _position(rows: list[Listed], installed: Installed) -> int:
    """Where latest's image is among ``rows`` (newest first); -1, above them all, when no
    version tag names it (a base built by hand)."""
    return next((index for index, row in enumerate(rows) if row.id == installed.image_id), -1)
