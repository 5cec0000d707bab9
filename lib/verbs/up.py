"""`claw up` and `claw down` (SPEC §6): strict readiness, the drift hint, compose.

``check`` looks at every image the pod needs in one ``docker image inspect``
(whatever the number of services) and never contacts a registry; it also makes
the checks of the compose file ``up`` would write. Nothing is written or started
unless every check passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import compose_file, drift, pod, runners, target
from ..drift import Drift
from ..engine.docker import Image
from ..errors import ClawError, DockerError, NotReady
from ..files import write_atomically
from ..invocation import Invocation
from ..pod import Service
from ..runners import Runner, Use


@dataclass(frozen=True)
class Problem:
    subject: str  # a service, or "<component> (infra)"
    ref: str  # the image that is missing
    text: str
    fix: str  # pull | build | edit (the Clawfile: no command fixes it)

    def line(self) -> str:
        return f"{self.subject}: {self.text}"


@dataclass(frozen=True)
class Readiness:
    pod: pod.Pod
    problems: tuple[Problem, ...]
    drift: tuple[Drift, ...]
    runners_missing: tuple[Runner, ...]  # bases the missing service images need
    images: Mapping[str, Image] = field(default_factory=dict)  # what the one inspect found
    refs: Mapping[str, str] = field(default_factory=dict)  # service -> the image it runs
    unlocked: Mapping[str, str] = field(default_factory=dict)  # service -> how it differs from claw.lock
    locked: bool = False  # there is a claw.lock: every service is held against it

    def to_json(self) -> dict[str, Any]:
        """Per service: its image and, from the image's labels, what it was built on."""
        drifted = {d.service: d for d in self.drift}
        return {
            "pod": self.pod.name,
            "ready": self.ready,
            "problems": [
                {"subject": p.subject, "ref": p.ref, "text": p.text, "fix": p.fix} for p in self.problems
            ],
            "services": [
                {
                    **_service_json(s.name, self.ref(s), self.images.get(self.ref(s)), drifted.get(s.name)),
                    "lock": None
                    if not self.locked
                    else {"matches": s.name not in self.unlocked, "why": self.unlocked.get(s.name)},
                }
                for s in self.pod.services
            ],
        }

    def ref(self, service: Service) -> str:
        return self.refs.get(service.name, service.ref)

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_pull(self) -> set[str]:
        """What `claw pull` must bring: missing registry and infra images, missing bases."""
        wanted = {p.ref for p in self.problems if p.fix == "pull" and p.subject not in self._built}
        return wanted | {runner.latest for runner in self.runners_missing}

    def to_build(self) -> set[str]:
        """The `build:` services whose image is missing (and whose Clawfile can be built)."""
        slips = {p.subject for p in self.problems if p.fix == "edit"}
        return {p.subject for p in self.problems if p.subject in self._built} - slips

    @property
    def _built(self) -> set[str]:
        return {s.name for s in self.pod.built}

    def remedy(self, where: target.Target) -> str:
        """Exactly one command: `claw pull` or `claw build` when one of them fixes everything,
        `claw up --fix` (which does both, in order) when it takes both. A `build:` service
        whose runner base is missing needs both: the pull brings the base, then it is built."""
        pull = bool(self.to_pull())
        build = bool(self.to_build())
        if pull and build:
            return where.command("up --fix")
        return where.command("pull" if pull else "build")

    def not_ready(self, where: target.Target) -> NotReady:
        lines = "\n".join(f"  {p.line()}" for p in self.problems)
        edit = "fix the Clawfile as said, then " if any(p.fix == "edit" for p in self.problems) else ""
        return NotReady(
            f"pod {self.pod.name} is not ready:\n{lines}", hint=f"{edit}run: {self.remedy(where)}"
        )

    def not_locked(self, where: target.Target) -> NotReady:
        """``up --locked``: services whose images do not match claw.lock."""
        lines = "\n".join(f"  {service}: {why}" for service, why in self.unlocked.items())
        return NotReady(
            f"pod {self.pod.name} does not match claw.lock:\n{lines}",
            hint=f"run: {where.command('pull')} (builds the locked bases), then {where.command('build')}",
        )


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def check(inv: Invocation) -> Readiness:
    """Every check `up` makes, with one docker call (which also proves the engine answers)."""
    where = inv.pod_target()
    the_pod, table, pins = where.pod, inv.table, inv.pins
    compose_file.check(the_pod)  # the file up would write: the same errors now
    uses = {job.name: runners.uses(job.clawfile, table) for job in where.jobs}
    locked_refs = {name: entry.ref for name, entry in inv.lock.images.items()} if inv.lock else {}
    run_refs = {s.name: locked_refs[s.name] for s in the_pod.pulled if s.name in locked_refs}
    wanted = [run_refs.get(s.name, s.ref) for s in the_pod.services]
    wanted += [pins[c] for c in the_pod.infra()]
    wanted += [r.current for r in table.values()]  # every alias: drift needs the current base
    wanted += [u.lookup for found in uses.values() for u in found]
    images = inv.engine.inspect_images(wanted)
    floating = [u.runner for found in uses.values() for u in found if not u.pinned]
    runners.require_pins(inv.engine, floating, images)  # a pin naming nothing here: bad input
    problems = _registry_problems(the_pod, pins, images, run_refs)
    slips = target.from_slips(where.jobs, {name: r.alias for name, r in table.items()})
    problems += [
        Problem(s.name, s.ref, slips[s.name].message, "edit") for s in the_pod.built if s.name in slips
    ]
    missing_runners: dict[str, Runner] = {}
    for service in the_pod.built:
        if service.ref in images or service.name in slips:
            continue
        bases = [u for u in uses[service.name] if not runners.ready(u, images)]
        if bases:
            problems.append(Problem(service.name, service.ref, _needs_bases(service.ref, bases), "pull"))
            missing_runners.update((u.runner.alias, u.runner) for u in bases if not u.pinned)
        else:
            problems.append(Problem(service.name, service.ref, _not_here(service.ref), "build"))
    drifted = drift.find(inv.engine, inv.table, the_pod, images, uses)
    unlocked = _unlocked(inv, the_pod, images, run_refs) if inv.lock else {}
    return Readiness(
        the_pod, tuple(problems), tuple(drifted), tuple(missing_runners.values()), images,
        run_refs, unlocked, locked=inv.lock is not None,
    )  # fmt: skip


def _unlocked(
    inv: Invocation, the_pod: pod.Pod, images: Mapping[str, Image], run_refs: Mapping[str, str]
) -> dict[str, str]:
    """The services whose image is here but does not match claw.lock, and how (a service
    built on a base, by the base's input labels it inherits; a registry image, by whether
    the lock names its digest)."""
    assert inv.lock is not None
    found: dict[str, str] = {}
    for service in the_pod.services:
        image = images.get(run_refs.get(service.name, service.ref))
        if image is None:
            continue  # missing: a readiness problem already
        if service.build is None:
            if service.name not in run_refs:
                found[service.name] = f"{service.ref} is not in claw.lock (claw pull --update-lock locks it)"
            continue
        driver = image.labels.get(runners.RUNNER_DRIVER)
        entry = inv.lock.bases.get(driver) if driver else None
        if driver and entry is None:
            found[service.name] = f"built on runner {driver}, which claw.lock does not name"
        elif entry is not None and not entry.matches(image.labels):
            fields = ", ".join(name for name, _, _ in entry.differences(image.labels))
            found[service.name] = f"built on a base that does not match claw.lock ({fields} differ)"
    return found


def _service_json(name: str, ref: str, image: Image | None, drift: Drift | None) -> dict[str, Any]:
    from .. import livecheck

    labels = image.labels if image else {}
    record = livecheck.Record.of(labels)
    built = runners.RUNNER_IMAGE_ID in labels
    return {
        "name": name,
        "image": ref,
        "image_id": image.id if image else None,
        "runner": labels.get(runners.RUNNER_DRIVER),
        "built_against": labels.get(runners.RUNNER_BUILT_AGAINST),
        "base_image_id": labels.get(runners.RUNNER_IMAGE_ID),
        "recipe_sha": labels.get(runners.RUNNER_RECIPE_SHA) if built else None,
        "from": list(record.froms) if built else [],
        "upstreams": [answer.record() for answer in record.upstreams.values()] if built else [],
        "refreshed_at": labels.get(runners.BASE_REFRESHED_AT) if built else None,
        "drift": None
        if drift is None
        else {
            "current": drift.current,
            "current_image_id": drift.current_id,
            "moved": list(drift.moved),
            "rolled_back": drift.back is not None,
        },
    }


def _registry_problems(
    the_pod: pod.Pod, pins: Mapping[str, str], images: dict[str, Image], run_refs: Mapping[str, str]
) -> list[Problem]:
    wanted = [(s.name, run_refs.get(s.name, s.ref)) for s in the_pod.pulled]
    problems = [Problem(name, ref, _not_here(ref), "pull") for name, ref in wanted if ref not in images]
    problems += [
        Problem(f"{c} (infra)", pins[c], _not_here(pins[c]), "pull")
        for c in the_pod.infra()
        if pins[c] not in images
    ]
    return problems


def _not_here(ref: str) -> str:
    return f"image {ref} is not on this host"


def _needs_bases(ref: str, bases: list[Use]) -> str:
    names = ", ".join(dict.fromkeys(u.lookup for u in bases))
    return f"image {ref} is not on this host, and its runner base {names} is missing or has no version tag"


# --------------------------------------------------------------------------
# up and down
# --------------------------------------------------------------------------


def start(
    inv: Invocation,
    readiness: Readiness,
    *,
    detach: bool = False,
    on_log: Callable[[str], None] | None = None,
) -> Path:
    """Write compose.generated.yml and run compose up; the pod must be ready."""
    where = inv.pod_target()
    if not readiness.ready:
        raise readiness.not_ready(where)
    the_pod = readiness.pod
    file = _write_compose_file(inv, the_pod, readiness.refs)
    inv.events.progress(the_pod.name, f"starting with {file.name}")
    sink = (
        on_log if on_log is not None and not detach else (lambda line: inv.events.output(the_pod.name, line))
    )
    try:
        inv.engine.compose_up(project=the_pod.name, file=file, detach=detach, on_line=sink)
    except DockerError as exc:
        raise _against_pod(exc, the_pod, file) from None
    return file


def _against_pod(error: DockerError, the_pod: pod.Pod, file: Path) -> ClawError:
    """Compose's words about the generated file, said of the pod the operator wrote."""
    if file.name not in error.reason:
        return error
    reason = error.reason.replace(str(file), file.name).replace(f"./{file.name}", file.name)
    return ClawError(f"{the_pod.path}: compose refused the pod: {reason} (in {file.name}, written from it)")


def _write_compose_file(inv: Invocation, the_pod: pod.Pod, refs: Mapping[str, str] | None = None) -> Path:
    """compose.generated.yml from the pod, written atomically beside it (``refs``: the
    images claw.lock names for registry services)."""
    file = compose_file.path_for(the_pod.path)
    write_atomically(file, compose_file.render(compose_file.generate(the_pod, inv.pins, refs), the_pod))
    return file


def hint_drift(inv: Invocation, readiness: Readiness) -> None:
    for found in readiness.drift:
        inv.events.hint(found.line(inv.target.command("build")))
    if readiness.unlocked:
        names = ", ".join(readiness.unlocked)
        inv.events.warn(
            f"{readiness.pod.name}: {len(readiness.unlocked)} service(s) do not match claw.lock ({names}); "
            "claw up --locked would refuse to start them (claw up --check --json says why)"
        )


@dataclass(frozen=True)
class Stopped:
    pod: pod.Pod
    running: bool  # False: nothing of the pod was running; nothing was done


def down(inv: Invocation, *, volumes: bool = False) -> Stopped:
    """Stop the pod. A missing compose.generated.yml is written again from the pod first
    (a `git clean` removes it); a pod with no containers is not an error."""
    the_pod = inv.pod_target().pod
    inv.engine.check()  # an unreachable engine: the one line every verb prints
    running = inv.engine.containers_labelled(compose_file.project_label(the_pod.name))
    if not running and not volumes:
        return Stopped(the_pod, False)
    file = compose_file.path_for(the_pod.path)
    if not file.is_file():
        inv.events.progress(the_pod.name, f"writing {file.name} again from {the_pod.path.name}")
        _write_compose_file(inv, the_pod)
    inv.engine.compose_down(
        project=the_pod.name,
        file=file,
        volumes=volumes,
        on_line=lambda line: inv.events.output(the_pod.name, line),
    )
    return Stopped(the_pod, True)
