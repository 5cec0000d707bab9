"""`claw build` (SPEC §5): Clawfile -> Dockerfile.generated -> image, with runner provenance.

Every ``FROM`` that names a runner alias floating (``openclaw``,
``openclaw:latest``) is rewritten to the version tag the alias has now; a
pinned one (``openclaw:v0.4.0``, a digest) is kept. The image gets the runner's
provenance labels. Nothing is built unless every runner base the builds need
is on this host with a version tag: ``claw build`` never builds or refreshes a
runner base itself.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from .. import clawfile, refs, runners, target, versions
from ..engine.docker import Engine
from ..errors import ClawError, DockerError, InputError
from ..events import Events
from ..files import OutputLog, write_atomically
from ..invocation import Invocation
from ..runners import Base, Use
from ..target import Job


@dataclass(frozen=True)
class Built:
    job: Job
    image_id: str
    base: Base | None
    generated: Path | None

    def line(self) -> str:
        against = f", against {self.base.ref}" if self.base else ""
        image = versions.short_id(self.image_id)
        if self.job.tag:
            return f"{self.job.name}: built {self.job.tag} (image {image}{against})"
        return f"{self.job.name}: built image {image} (untagged{against})"


def jobs(where: target.Target, tag: str | None) -> list[Job]:
    """What to build: every `build:` service of a pod, or the one Clawfile."""
    if isinstance(where, target.PodTarget):
        if tag:
            raise InputError(
                "-t names the image of one Clawfile; a pod's services are built to their own refs"
            )
        return list(where.jobs)
    if isinstance(where, target.BareTarget):
        raise InputError(
            "nothing to build here: give a Clawfile or a directory holding one, or a pod with -f"
        )
    if tag is not None and not refs.is_valid(tag):
        raise InputError(f"-t: not a valid image reference: {tag!r}")
    return [where.job(tag)]


def run(inv: Invocation, *, tag: str | None = None, only: Collection[str] | None = None) -> list[Built]:
    """The whole verb: plan, resolve every runner base, then build each image in turn.

    ``only`` limits a pod build to those services (``claw up --fix``)."""
    todo = [job for job in jobs(inv.target, tag) if only is None or job.name in only]
    found = {job.name: runners.uses(job.clawfile, inv.table) for job in todo}
    for slip in target.from_slips(todo, {name: r.alias for name, r in inv.table.items()}).values():
        raise slip  # before docker asks a registry for the image the slip names
    inv.engine.check()
    resolved = runners.bases_of(
        inv.engine, [u for us in found.values() for u in us], inv.target.command("pull")
    )
    return [build_one(inv.engine, job, found[job.name], resolved, inv.events, inv.fleet_name) for job in todo]


def build_one(
    engine: Engine, job: Job, found: list[Use], bases: dict[str, Base], events: Events, fleet_name: str = ""
) -> Built:
    base = bases[found[0].lookup] if found else None
    generated = None
    dockerfile = job.file
    lines: list[int | None] = []
    if job.clawfile is not None:
        rewrites = {use.stage: bases[use.lookup].ref for use in found if not use.pinned}
        generated = generated_path(job.file, fleet_name)
        write_atomically(generated, clawfile.emit(job.clawfile, from_images=rewrites, target=job.target))
        lines = clawfile.source_lines(job.clawfile, from_images=rewrites, target=job.target)
        dockerfile = generated
    against = f" (FROM {base.ref})" if base else ""
    events.progress(job.name, f"building {job.tag or 'an untagged image'}{against}")
    with OutputLog(f"build-{job.name}") as log:

        def sink(line: str) -> None:
            log.write(line)
            events.output(job.name, line)

        try:
            image_id = engine.build(
                job.context,
                tag=job.tag,
                dockerfile=dockerfile,
                labels=base.labels() if base else None,
                target=job.target,
                build_args=job.args,
                on_line=sink,
            )
        except DockerError as exc:
            reason = against_source(exc.reason, job.file, generated, lines)
            raise ClawError(f"{job.name}: build failed: {reason}", hint=f"full log: {log.path}") from None
        log.discard()
    return Built(job, image_id, base, generated)


_GENERATED_LINE = re.compile(r"(?:dockerfile parse error (?:on )?line |\bDockerfile[\w.-]*\.generated:)(\d+)")


def against_source(reason: str, source: Path, generated: Path | None, lines: list[int | None]) -> str:
    """Docker's words about line N of Dockerfile.generated, said of the Clawfile line
    that produced it: ``analyst/Clawfile:6: ... (line 3 of Dockerfile.generated)``."""
    match = _GENERATED_LINE.search(reason)
    if generated is None or match is None:
        return reason
    number = int(match[1])
    origin = lines[number - 1] if 0 < number <= len(lines) else None
    if origin is None:
        return f"{reason} (in {generated.name})"
    return f"{source}:{origin}: {reason} (line {number} of {generated.name})"


def generated_path(file: Path, engine: str = "") -> Path:
    """``Clawfile`` -> ``Dockerfile.generated``; ``Clawfile.dev`` -> ``Dockerfile.dev.generated``.

    A build on one engine of several writes its own (``Dockerfile.ENGINE.generated``): the
    engines' bases may be at different versions, so their FROM lines may differ."""
    name = file.name
    if name == "Clawfile":
        stem = "Dockerfile"
    elif name.startswith("Clawfile."):
        stem = f"Dockerfile.{name[len('Clawfile.') :]}"
    else:
        stem = name
    return file.with_name(f"{stem}.{engine}.generated" if engine else f"{stem}.generated")
