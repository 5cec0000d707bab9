"""`claw build` (SPEC §5): Clawfile -> Dockerfile.generated -> image, with runner provenance.

Every ``FROM`` that names a runner alias floating (``openclaw``,
``openclaw:latest``) is rewritten to the version tag the alias has now; a
pinned one (``openclaw:v0.4.0``, a digest) is kept. The image gets the runner's
provenance labels. Nothing is built unless every runner base the builds need
is on this host with a version tag: ``claw build`` never builds or refreshes a
runner base itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib import clawfile, docker, pod, refs, runners, target, versions
from lib.clawfile import Clawfile
from lib.config import Config
from lib.errors import ClawError, DockerError, EngineUnreachable, InputError
from lib.events import Events
from lib.files import OutputLog, read_input
from lib.pod import BuildArg
from lib.runners import Runner

BASE_NAME_LABEL = "org.opencontainers.image.base.name"


@dataclass(frozen=True)
class Job:
    """One image to build: a Clawfile, or a pod service's plain Dockerfile."""

    name: str  # the service, or the Clawfile as given
    file: Path
    context: Path
    tag: str | None
    clawfile: Clawfile | None = None  # parsed when the build file is a Clawfile
    args: tuple[BuildArg, ...] = ()
    target: str | None = None


@dataclass(frozen=True)
class Use:
    """A FROM that names a runner alias."""

    stage: int
    runner: Runner
    written: str  # the image as the Clawfile writes it
    pinned: bool  # a tag other than latest, or a digest: kept as written

    @property
    def lookup(self) -> str:
        return self.written if self.pinned else self.runner.latest


@dataclass(frozen=True)
class Base:
    """The runner base a build uses, resolved on this host."""

    runner: Runner
    ref: str  # <alias>:<version tag> (or the pinned ref as written)
    image_id: str
    recipe_sha: str | None

    def labels(self) -> dict[str, str]:
        labels = {
            "claw.runner.driver": self.runner.driver,
            "claw.runner.built-against": self.ref,
            "claw.runner.image-id": self.image_id,
        }
        if self.recipe_sha:
            labels["claw.runner.recipe-sha"] = self.recipe_sha
        labels[BASE_NAME_LABEL] = self.ref
        return labels


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


# --------------------------------------------------------------------------
# What to build
# --------------------------------------------------------------------------


def jobs(where: target.Target, tag: str | None, detail: Callable[[str], None] | None = None) -> list[Job]:
    if where.mode == target.POD:
        assert where.path is not None
        if tag:
            raise InputError(
                "-t names the image of one Clawfile; a pod's services are built to their own refs"
            )
        return pod_jobs(pod.load(where.path, detail))
    if where.mode == target.BARE:
        raise InputError(
            "nothing to build here: give a Clawfile or a directory holding one, or a pod with -f"
        )
    assert where.path is not None
    if tag is not None and not refs.is_valid(tag):
        raise InputError(f"-t: not a valid image reference: {tag!r}")
    parsed = clawfile.parse(read_input(where.path, "Clawfile"), str(where.path))
    return [Job(str(where.path), where.path, where.path.parent, tag, parsed)]


def pod_jobs(the_pod: pod.Pod) -> list[Job]:
    """One job per `build:` service, in the pod's order."""
    return [_service_job(service) for service in the_pod.built]


def _service_job(service: pod.Service) -> Job:
    spec = service.build
    assert spec is not None
    parsed = clawfile.parse(read_input(spec.file, "Clawfile"), str(spec.file)) if spec.is_clawfile else None
    return Job(service.name, spec.file, spec.context, service.ref, parsed, spec.args, spec.target)


def uses(job: Job, table: dict[str, Runner]) -> list[Use]:
    """The FROMs that name the alias of the runner the Clawfile uses (see ``runners.used_by``)."""
    runner = runners.used_by(job.clawfile, table) if job.clawfile else None
    if job.clawfile is None or runner is None:
        return []
    return [
        Use(number, runner, str(image), image.digest is not None or image.tag not in (None, "latest"))
        for number, image in runners.stages_using(job.clawfile, runner.alias)
    ]


# --------------------------------------------------------------------------
# Resolving runner bases (one docker call, before anything is built)
# --------------------------------------------------------------------------


def resolve(all_uses: list[Use], remedy: str) -> dict[str, Base]:
    """Base per lookup ref, or a ClawError listing every missing base and the fix."""
    images = docker.inspect_images(use.lookup for use in all_uses)
    bases: dict[str, Base] = {}
    problems: list[str] = []
    for use in all_uses:
        if use.lookup in bases:
            continue
        found = images.get(use.lookup)
        if found is None:
            problems.append(_missing(use))
            continue
        ref = use.written if use.pinned else _version_ref(use.runner, found.repo_tags)
        if ref is None:
            problems.append(f"{use.runner.latest} has no version tag (built by hand?)")
            continue
        bases[use.lookup] = Base(use.runner, ref, found.id, found.labels.get("claw.base.recipe-sha"))
    if problems:
        raise ClawError("runner base not ready: " + "; ".join(dict.fromkeys(problems)), hint=f"run: {remedy}")
    return bases


def _version_ref(runner: Runner, repo_tags: tuple[str, ...]) -> str | None:
    tag = versions.resolve(runner.alias, repo_tags)
    return f"{runner.alias}:{tag}" if tag else None


def _missing(use: Use) -> str:
    if use.pinned:
        return f"{use.written} is not on this host (pinned in a FROM; claw pull installs the newest version)"
    return f"{use.runner.latest} is not on this host"


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


def run(
    where: target.Target,
    config: Config,
    events: Events,
    *,
    tag: str | None = None,
    only: set[str] | None = None,
) -> list[Built]:
    """The whole verb: plan, resolve every runner base, then build each image in turn.

    ``only`` limits a pod build to those services (``claw up --fix``)."""
    if where.mode == target.BARE and Path("Clawfile").is_file():
        where = target.Target(target.CLAWFILE, Path("Clawfile"), given=False)
    todo = [job for job in jobs(where, tag, events.detail) if only is None or job.name in only]
    table = runners.table(config)
    found = {job.name: uses(job, table) for job in todo}
    docker.check_engine()
    bases = resolve([u for us in found.values() for u in us], where.pull_command())
    return [build_one(job, found[job.name], bases, events) for job in todo]


def build_one(job: Job, found: list[Use], bases: dict[str, Base], events: Events) -> Built:
    base = bases[found[0].lookup] if found else None
    generated = None
    dockerfile = job.file
    if job.clawfile is not None:
        rewrites = {use.stage: bases[use.lookup].ref for use in found if not use.pinned}
        generated = generated_path(job.file)
        write_atomically(generated, clawfile.emit(job.clawfile, from_images=rewrites))
        dockerfile = generated
    against = f" (FROM {base.ref})" if base else ""
    events.progress(job.name, f"building {job.tag or 'an untagged image'}{against}")
    with OutputLog(f"build-{job.name}") as log:

        def sink(line: str) -> None:
            log.write(line)
            events.output(job.name, line)

        try:
            image_id = docker.build(
                job.context,
                tag=job.tag,
                dockerfile=dockerfile,
                labels=base.labels() if base else None,
                target=job.target,
                build_args=job.args,
                on_line=sink,
            )
        except EngineUnreachable:
            raise
        except DockerError as exc:
            raise ClawError(f"{job.name}: build failed: {exc.reason}", hint=f"full log: {log.path}") from None
        log.discard()
    return Built(job, image_id, base, generated)


def generated_path(file: Path) -> Path:
    """``Clawfile`` -> ``Dockerfile.generated``; ``Clawfile.dev`` -> ``Dockerfile.dev.generated``."""
    name = file.name
    if name == "Clawfile":
        return file.with_name("Dockerfile.generated")
    if name.startswith("Clawfile."):
        return file.with_name(f"Dockerfile.{name[len('Clawfile.') :]}.generated")
    return file.with_name(f"{name}.generated")


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ClawError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        raise ClawError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
