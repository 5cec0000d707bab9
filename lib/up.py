"""`claw up` and `claw down` (SPEC §6): strict readiness, the drift hint, compose.

``check`` looks at every image the pod needs in one ``docker image inspect``
(whatever the number of services) and never contacts a registry. Nothing is
written or started unless every check passes; ``--fix`` first does what the
remediations say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib import build, compose_file, docker, infra, pod, pull, refresh, refs, runners, target, versions
from lib.config import Config
from lib.errors import ClawError, InputError, NotReady
from lib.events import Events
from lib.runners import Runner
from lib.versions import short_id

IMAGE_ID_LABEL = "claw.runner.image-id"
BUILT_AGAINST_LABEL = "claw.runner.built-against"


@dataclass(frozen=True)
class Problem:
    subject: str  # a service, or "<component> (infra)"
    ref: str  # the image that is missing
    text: str
    fix: str  # pull | build

    def line(self) -> str:
        return f"{self.subject}: {self.text}"


@dataclass(frozen=True)
class Drift:
    service: str
    built_against: str
    built_id: str
    current: str
    current_id: str

    def line(self, build_command: str) -> str:
        return (
            f"{self.service}: built against {self.built_against} (image {short_id(self.built_id)}), "
            f"current is {self.current} (image {short_id(self.current_id)}); "
            f"consider running: {build_command}"
        )


@dataclass(frozen=True)
class Readiness:
    pod: pod.Pod
    problems: tuple[Problem, ...]
    drift: tuple[Drift, ...]
    runners_missing: tuple[Runner, ...]  # bases the missing service images need

    @property
    def ready(self) -> bool:
        return not self.problems

    def remedy(self, where: target.Target) -> str:
        """Exactly one command: `claw pull` first, since `claw build` needs the runner bases."""
        if any(p.fix == "pull" for p in self.problems):
            return where.pull_command()
        return where.build_command()

    def not_ready(self, where: target.Target) -> NotReady:
        lines = "\n".join(f"  {p.line()}" for p in self.problems)
        return NotReady(f"pod {self.pod.name} is not ready:\n{lines}", hint=f"run: {self.remedy(where)}")


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def check(where: target.Target, config: Config, events: Events | None = None) -> Readiness:
    assert where.path is not None
    the_pod = pod.load(where.path, events.detail if events else None)
    table = runners.table(config)
    pins = infra.pinned(config.infra)
    jobs = {job.name: job for job in build.pod_jobs(the_pod)}
    uses = {name: build.uses(job, table) for name, job in jobs.items()}
    wanted = [s.ref for s in the_pod.services]
    wanted += [pins[c] for c in the_pod.infra()]
    wanted += [r.latest for r in table.values()]  # every alias: drift needs the current base
    wanted += [u.lookup for found in uses.values() for u in found]
    images = docker.inspect_images(wanted)
    problems = _registry_problems(the_pod, pins, images)
    missing_runners: dict[str, Runner] = {}
    for service in the_pod.built:
        if service.ref in images:
            continue
        bases = [u for u in uses[service.name] if not _base_ready(u, images)]
        if bases:
            problems.append(Problem(service.name, service.ref, _needs_bases(service.ref, bases), "pull"))
            missing_runners.update((u.runner.alias, u.runner) for u in bases if not u.pinned)
        else:
            problems.append(Problem(service.name, service.ref, _not_here(service.ref), "build"))
    drift = _drift(the_pod, images, uses)
    return Readiness(the_pod, tuple(problems), tuple(drift), tuple(missing_runners.values()))


def _registry_problems(
    the_pod: pod.Pod, pins: dict[str, str], images: dict[str, docker.Image]
) -> list[Problem]:
    problems = [
        Problem(s.name, s.ref, _not_here(s.ref), "pull") for s in the_pod.pulled if s.ref not in images
    ]
    problems += [
        Problem(f"{c} (infra)", pins[c], _not_here(pins[c]), "pull")
        for c in the_pod.infra()
        if pins[c] not in images
    ]
    return problems


def _not_here(ref: str) -> str:
    return f"image {ref} is not on this host"


def _base_ready(use: build.Use, images: dict[str, docker.Image]) -> bool:
    found = images.get(use.lookup)
    return found is not None and (
        use.pinned or versions.resolve(use.runner.alias, found.repo_tags) is not None
    )


def _needs_bases(ref: str, bases: list[build.Use]) -> str:
    names = ", ".join(dict.fromkeys(u.lookup for u in bases))
    return f"image {ref} is not on this host, and its runner base {names} is missing or has no version tag"


def _drift(
    the_pod: pod.Pod, images: dict[str, docker.Image], uses: dict[str, list[build.Use]]
) -> list[Drift]:
    """Services whose image was built against another image than the alias's current one."""
    labelled = [(s, images[s.ref]) for s in the_pod.services if s.ref in images]
    labelled = [(s, i) for s, i in labelled if IMAGE_ID_LABEL in i.labels and BUILT_AGAINST_LABEL in i.labels]
    aliases = {s.name: _alias(i.labels[BUILT_AGAINST_LABEL]) for s, i in labelled}
    unknown = {f"{a}:latest" for a in aliases.values() if a and f"{a}:latest" not in images}
    if unknown:  # an alias no longer in the runner table; rare, and still a constant number of calls
        images = {**images, **docker.inspect_images(sorted(unknown))}
    found = []
    for service, image in labelled:
        alias = aliases[service.name]
        current = images.get(f"{alias}:latest")
        if alias is None or current is None or current.id == image.labels[IMAGE_ID_LABEL]:
            continue
        if any(u.pinned and u.runner.alias == alias for u in uses.get(service.name, ())):
            continue  # the author pinned a version: rebuilding would not move it
        version = versions.resolve(alias, current.repo_tags) or "latest"
        found.append(
            Drift(
                service.name,
                image.labels[BUILT_AGAINST_LABEL],
                image.labels[IMAGE_ID_LABEL],
                f"{alias}:{version}",
                current.id,
            )
        )
    return found


def _alias(built_against: str) -> str | None:
    parsed = refs.parse(built_against)
    return parsed.name if parsed else None


# --------------------------------------------------------------------------
# --fix: do what the remediations say
# --------------------------------------------------------------------------


def fix(readiness: Readiness, where: target.Target, config: Config, events: Events) -> None:
    pins = infra.pinned(config.infra)
    the_pod = readiness.pod
    missing = {p.ref for p in readiness.problems}
    actions = [pull.Action(pull.INFRA, c, pins[c]) for c in the_pod.infra() if pins[c] in missing]
    actions += [pull.Action(pull.IMAGE, s.name, s.ref) for s in the_pod.pulled if s.ref in missing]
    actions += [pull.Action(pull.RUNNER, r.alias, r.latest, r) for r in readiness.runners_missing]
    if actions:
        options = refresh.Options(retries=config.pull.retries, keep=config.pull.keep)
        report = pull.execute(
            pull.Plan(where, tuple(actions)), jobs=config.pull.jobs, options=options, events=events
        )
        for result in report.results:
            events.progress("--fix", result.line)
        if report.failed:
            reasons = "; ".join(r.line for r in report.failed)
            raise ClawError(
                f"--fix could not pull everything: {reasons}", hint=report.hints[0] if report.hints else None
            )
    to_build = {s.name for s in the_pod.built if s.ref in missing}
    if to_build:
        for built in build.run(where, config, events, only=to_build):
            events.progress("--fix", built.line())


# --------------------------------------------------------------------------
# up and down
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    pod: pod.Pod
    file: Path | None  # None: --check, nothing written or started
    readiness: Readiness


def up(
    where: target.Target,
    config: Config,
    events: Events,
    *,
    detach: bool = False,
    fix_first: bool = False,
    check_only: bool = False,
    on_log: Callable[[str], None] | None = None,
) -> Started:
    where = _pod_target(where)
    readiness = check(where, config, events)  # its one inspect is also the engine check
    if not readiness.ready and fix_first:
        fix(readiness, where, config, events)
        readiness = check(where, config)
    if not readiness.ready:
        raise readiness.not_ready(where)
    for drift in readiness.drift:
        events.hint(drift.line(where.build_command()))
    if check_only:
        return Started(readiness.pod, None, readiness)
    file = compose_file.path_for(readiness.pod.path)
    document = compose_file.generate(readiness.pod, infra.pinned(config.infra))
    build.write_atomically(file, compose_file.render(document, readiness.pod))
    events.progress(readiness.pod.name, f"starting with {file.name}")
    sink = (
        on_log
        if on_log is not None and not detach
        else (lambda line: events.output(readiness.pod.name, line))
    )
    docker.compose_up(project=readiness.pod.name, file=file, detach=detach, on_line=sink)
    return Started(readiness.pod, file, readiness)


def down(where: target.Target, events: Events, *, volumes: bool = False) -> pod.Pod:
    where = _pod_target(where)
    assert where.path is not None
    the_pod = pod.load(where.path)
    file = compose_file.path_for(the_pod.path)
    if not file.is_file():
        raise ClawError(
            f"{file} not found: pod {the_pod.name} was not started with claw up here",
            hint=f"run: {where.up_command()} first",
        )
    docker.compose_down(
        project=the_pod.name,
        file=file,
        volumes=volumes,
        on_line=lambda line: events.output(the_pod.name, line),
    )
    return the_pod


def _pod_target(where: target.Target) -> target.Target:
    if where.mode == target.POD:
        return where
    if where.mode == target.BARE:
        raise InputError("no pod here: run where claw-pod.yml is, or name the pod with -f")
    raise InputError(f"{where.path}: not a pod file (a pod file ends in .yml or .yaml)")
