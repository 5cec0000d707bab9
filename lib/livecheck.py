"""Livecheck (SPEC §9): is a runner base current, and if not, what moved? Pure data.

A base records what it was built from in its labels (``Record``). Before a refresh,
claw learns what the same questions answer now (``Now``: the recipe's sha, each FROM
image's registry digest, each declared upstream's answer). ``compare`` says whether the
base is current and, in words an operator reads, why or why not. A question that
could not be answered never counts as unchanged.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from . import refs, runners
from .errors import UpstreamError
from .upstreams import BEFORE_ARG, Answer, Upstream, parse_record

OLDER_CLAW = "no record: built by an older claw"


@dataclass(frozen=True)
class FromImage:
    """One FROM image of a recipe, as asked now."""

    written: str  # as the recipe writes it: node:22-slim
    digest: str | None = None  # the registry digest it resolves to now, when known
    unchanged: bool = False  # the registry said: still the recorded digest (digest may be unknown)
    moved: bool = False  # the registry said: no longer the recorded digest (digest may be unknown)
    error: str | None = None  # why it could not be asked

    @property
    def shown(self) -> str:
        return refs.short_name(self.written)

    def pullable(self) -> str | None:
        return refs.pullable(self.written, self.digest) if self.digest else None


@dataclass(frozen=True)
class Record:
    """What a base's labels say it was built from."""

    recipe_sha: str | None
    froms: tuple[str, ...]  # pullable digest refs, in recipe order
    upstreams: Mapping[Upstream, Answer]
    refreshed_at: datetime.datetime | None
    before: str | None = None  # the time fence its installers were given

    @classmethod
    def of(cls, labels: Mapping[str, str]) -> Record:
        froms = tuple(_numbered(labels, runners.BASE_FROM))
        answers = [parse_record(text) for text in _numbered(labels, runners.BASE_UPSTREAM)]
        return cls(
            recipe_sha=labels.get(runners.BASE_RECIPE_SHA),
            froms=froms,
            upstreams={answer.upstream: answer for answer in answers if answer is not None},
            refreshed_at=_moment(labels.get(runners.BASE_REFRESHED_AT)),
            before=labels.get(runners.BASE_BEFORE),
        )

    def digest_of(self, index: int, image: str) -> str | None:
        """The digest recorded for the recipe's ``index``-th image, if it is that image."""
        if index >= len(self.froms):
            return None
        recorded = self.froms[index]
        name, _, digest = recorded.rpartition("@")
        return digest if digest and refs.same_repository(name, image) else None


@dataclass(frozen=True)
class Now:
    """What the questions answer now."""

    recipe_sha: str
    images: tuple[FromImage, ...]
    answers: tuple[Answer | UpstreamError, ...]  # in the runner's upstream order
    downloaded: bool = False  # the FROM images were pulled to learn their digests
    before: str | None = None  # RFC 3339 UTC, just after the last answer came in (SPEC §12.1)

    @property
    def here(self) -> bool:
        """Every FROM image is on this host at the digest learned just now, so a build uses
        exactly what is recorded. A build with ``--pull`` would ask the registry again,
        and could build from a newer image than the one its labels name."""
        return self.downloaded and all(image.digest and not image.error for image in self.images)

    def labels(self) -> dict[str, str]:
        """What a base built now records (``claw.base.from.<i>``, upstreams, OCI base)."""
        labels: dict[str, str] = {}
        pulled = [image.pullable() for image in self.images]
        for index, ref in enumerate(ref for ref in pulled if ref):
            labels[f"{runners.BASE_FROM}{index}"] = ref
        answered = [answer for answer in self.answers if isinstance(answer, Answer)]
        for index, answer in enumerate(answered):
            labels[f"{runners.BASE_UPSTREAM}{index}"] = answer.record()
        final = self.images[-1] if self.images else None
        if final is not None and final.digest:
            labels[runners.OCI_BASE_NAME] = refs.qualified_name(final.written)
            labels[runners.OCI_BASE_DIGEST] = final.digest
        if self.before:
            labels[runners.BASE_BEFORE] = self.before
        return labels

    def build_args(self) -> list[tuple[str, str | None]]:
        """What the build is handed (SPEC §12.1): each answer as ``CLAW_UPSTREAM_<NAME>``, and
        the time fence ``CLAW_UPSTREAM_BEFORE``. A question that failed passes nothing: the
        recipe then installs what upstream serves, and the base records no answer for it."""
        args: list[tuple[str, str | None]] = [
            (answer.upstream.arg, answer.value) for answer in self.answers if isinstance(answer, Answer)
        ]
        return [*args, (BEFORE_ARG, self.before)] if self.before else args


@dataclass(frozen=True)
class Verdict:
    moved: tuple[str, ...]  # what changed: "npm:openclaw 2026.5.22 → 2026.5.24", "recipe changed"
    unanswered: tuple[str, ...]  # questions that failed: each means a rebuild
    steady: tuple[str, ...]  # what held: "npm:openclaw 2026.5.22", "node:22-slim unchanged"

    @property
    def current(self) -> bool:
        return not self.moved and not self.unanswered

    @property
    def why(self) -> tuple[str, ...]:
        """Why a refresh is needed, in the order an operator reads it."""
        return self.moved + self.unanswered


def compare(record: Record | None, now: Now, *, max_age: int, at: datetime.datetime | None = None) -> Verdict:
    """Current when the recipe, every FROM digest and every upstream answer are as recorded
    and the base is younger than ``max_age`` seconds (0: never current)."""
    moved: list[str] = []
    unanswered = [f"{image.shown}: {image.error}" for image in now.images if image.error]
    unanswered += [answer.reason for answer in now.answers if isinstance(answer, UpstreamError)]
    steady: list[str] = []
    if record is None or record.recipe_sha is None or (now.images and not record.froms):
        return Verdict((OLDER_CLAW,), tuple(unanswered), ())
    if record.recipe_sha != now.recipe_sha:
        moved.append("recipe changed")
    for answer in now.answers:
        if isinstance(answer, Answer):
            _upstream(record.upstreams.get(answer.upstream), answer, moved, steady)
    for index, image in enumerate(now.images):
        if not image.error:
            _image(record.digest_of(index, image.written), image, moved, steady)
    _age(record.refreshed_at, max_age, at or datetime.datetime.now(datetime.timezone.utc), moved, steady)
    return Verdict(tuple(moved), tuple(unanswered), tuple(steady))


def _upstream(before: Answer | None, now: Answer, moved: list[str], steady: list[str]) -> None:
    if before is None:
        moved.append(f"{now.display()} (not recorded)")
    elif before.value != now.value:
        moved.append(f"{now.upstream} {_short(before)} → {_short(now)}")
    else:
        steady.append(now.display())


def _short(answer: Answer) -> str:
    return answer.value[:12] if answer.upstream.kind == "git" else answer.value


def _image(recorded: str | None, image: FromImage, moved: list[str], steady: list[str]) -> None:
    if recorded is None:
        moved.append(f"{image.shown} (not recorded)")
    elif image.moved or (image.digest is not None and image.digest != recorded):
        moved.append(f"{image.shown} moved")
    elif image.unchanged or image.digest == recorded:
        steady.append(f"{image.shown} unchanged")
    else:
        moved.append(f"{image.shown}: the registry's digest could not be compared")


def _age(
    refreshed: datetime.datetime | None,
    max_age: int,
    at: datetime.datetime,
    moved: list[str],
    steady: list[str],
) -> None:
    if max_age == 0:
        moved.append("max_age 0: always rebuilt")
    elif refreshed is None:
        moved.append("no refresh time recorded")
    elif (at - refreshed).total_seconds() > max_age:
        moved.append(f"older than {duration(max_age)}")
    else:
        steady.append(f"refreshed {duration((at - refreshed).total_seconds())} ago")


def duration(seconds: float) -> str:
    """``7d``, ``36h``, ``5m``, ``0m``: the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds // 60), 0)}m"


def _numbered(labels: Mapping[str, str], prefix: str) -> list[str]:
    found = []
    for index in range(len(labels)):
        value = labels.get(f"{prefix}{index}")
        if value is None:
            break
        found.append(value)
    return found


def stamp(moment: datetime.datetime) -> str:
    """RFC 3339 UTC to the second, as the labels and the lock write times."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc)


def changes_between(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[str, ...]:
    """What moved between two bases, read from their labels (for the drift hint)."""
    before, after = Record.of(old), Record.of(new)
    found = [
        f"{upstream} {_short(was)} → {_short(after.upstreams[upstream])}"
        for upstream, was in before.upstreams.items()
        if upstream in after.upstreams and after.upstreams[upstream].value != was.value
    ]
    for was, now in zip(before.froms, after.froms, strict=False):
        if was != now and was.rpartition("@")[0] == now.rpartition("@")[0]:
            found.append(f"{refs.short_name(now.rpartition('@')[0])} moved")
    if before.recipe_sha and after.recipe_sha and before.recipe_sha != after.recipe_sha:
        found.append("recipe changed")
    return tuple(found)
