"""Drift (SPEC §6): a service image built on another runner base than the one its runner
is on now, read from the labels the service inherited and the one inspect of the pod.

What moved between the two bases comes from their labels; a base older than the one
the service was built on (a rollback of latest, or a pin to an older version) is said
as such. A service whose Clawfile pins its base's version never drifts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import refs, runners, versions
from .runners import Runner, Use
from .versions import short_id

if TYPE_CHECKING:
    from .engine.docker import Engine, Image
    from .pod import Pod


@dataclass(frozen=True)
class Drift:
    service: str
    built_against: str
    built_id: str
    current: str
    current_id: str
    moved: tuple[str, ...] = ()  # what moved between the two bases (older to newer), from their labels
    back: str | None = None  # the ref that went back to an older base than the service's (a rollback)

    def line(self, build_command: str) -> str:
        what = "".join(f": {'; '.join(self.moved)}" if self.moved else "")
        if self.back is not None:
            alias, _, now = self.current.partition(":")
            was = self.built_against.partition(":")[2]
            how = (
                f"{self.back} was rolled back to {now} from {was}"
                if self.back.endswith(":latest")
                else f"{alias} is pinned at {now}, older than {was}"
            )
            return (
                f"{self.service}: {how}, the base this service was built on "
                f"(image {short_id(self.built_id)}, now image {short_id(self.current_id)}{what}); "
                f"consider running: {build_command}"
            )
        return (
            f"{self.service}: built against {self.built_against} (image {short_id(self.built_id)}), "
            f"current is {self.current} (image {short_id(self.current_id)}{what}); "
            f"consider running: {build_command}"
        )


def find(
    engine: Engine,
    table: Mapping[str, Runner],
    the_pod: Pod,
    images: Mapping[str, Image],
    uses: Mapping[str, list[Use]],
) -> list[Drift]:
    """Services whose image was built against another image than the alias's current one.
    ``images``: what the pod's one inspect found; a base it lacks is asked of ``engine``."""
    labelled = [(s, images[s.ref]) for s in the_pod.services if s.ref in images]
    labelled = [
        (s, i)
        for s, i in labelled
        if runners.RUNNER_IMAGE_ID in i.labels and runners.RUNNER_BUILT_AGAINST in i.labels
    ]
    by_alias = runners.aliases(table.values())
    bases = {s.name: _current_base(i.labels[runners.RUNNER_BUILT_AGAINST], by_alias) for s, i in labelled}
    unknown = {ref for ref in bases.values() if ref and ref not in images}
    if unknown:  # an alias no longer in the runner table; rare, and still a constant number of calls
        images = {**images, **engine.inspect_images(sorted(unknown))}
    found = []
    for service, image in labelled:
        base = bases[service.name]
        current = images.get(base) if base else None
        if base is None or current is None or current.id == image.labels[runners.RUNNER_IMAGE_ID]:
            continue
        alias, _, tag = base.partition(":")
        if any(u.pinned and u.runner.alias == alias for u in uses.get(service.name, ())):
            continue  # the author pinned a version: rebuilding would not move it
        from . import livecheck  # only once a service drifted: most checks find none

        version = tag if tag != "latest" else versions.tag_of(alias, current.repo_tags) or "latest"
        built_against = image.labels[runners.RUNNER_BUILT_AGAINST]
        back = _older(current.labels, image.labels, version, built_against.partition(":")[2])
        older, newer = (current.labels, image.labels) if back else (image.labels, current.labels)
        found.append(
            Drift(
                service.name,
                built_against,
                image.labels[runners.RUNNER_IMAGE_ID],
                f"{alias}:{version}",
                current.id,
                livecheck.changes_between(older, newer),  # a service inherits its base's labels
                base if back else None,
            )
        )
    return found


def _older(current: Mapping[str, str], built: Mapping[str, str], now: str, was: str) -> bool:
    """Whether the base a service should be on now is older than the one it was built on
    (a rollback, or a pin to an older version): by the bases' refresh times, else by their
    version tags."""
    from . import livecheck

    current_at = livecheck.Record.of(current).refreshed_at
    built_at = livecheck.Record.of(built).refreshed_at
    if current_at is not None and built_at is not None and current_at != built_at:
        return current_at < built_at
    if versions.is_version_tag(now) and versions.is_version_tag(was):
        return versions.sort_key(now) < versions.sort_key(was)
    return False


def _current_base(built_against: str, by_alias: Mapping[str, Runner]) -> str | None:
    """What a service built against ``built_against`` should be on now: its runner's
    pin, else the alias's latest."""
    parsed = refs.parse(built_against)
    if parsed is None:
        return None
    runner = by_alias.get(parsed.name)
    return runner.current if runner else f"{parsed.name}:latest"
