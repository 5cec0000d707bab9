"""What a verb works on, resolved once per command: a pod, a Clawfile, or nothing.

``-f POD`` names a pod. A positional target is a pod when it ends in ``.yml`` or
``.yaml``, a directory holding ``Clawfile``, or else a Clawfile. With neither,
``claw-pod.yml`` (then ``claw-pod.yaml``) in the current directory is the pod;
without one the invocation is bare. The pod and each Clawfile are read and
parsed here, once, and every step of the run shares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Union

from . import pod
from .errors import InputError
from .files import read_input

if TYPE_CHECKING:
    from .clawfile import Clawfile
    from .engine.argv import BuildArg

# The Clawfile parser is imported where a Clawfile is read: a pod of registry services
# (`claw up --check`) never pays for it.


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
class _Given:
    path: Path  # as the operator gave it (or as auto-resolved)
    given: bool  # False: found in the current directory

    def command(self, verb: str) -> str:
        """``claw VERB`` for this target, in the shape of the invocation."""
        import shlex

        if not self.given:
            return f"claw {verb}"
        if isinstance(self, PodTarget):
            return f"claw {verb} -f {shlex.quote(str(self.path))}"
        return f"claw {verb} {shlex.quote(str(self.path))}"


@dataclass(frozen=True)
class PodTarget(_Given):
    pod: pod.Pod

    @cached_property
    def jobs(self) -> tuple[Job, ...]:
        """One job per `build:` service, in the pod's order; each Clawfile parsed once."""
        return tuple(_service_job(service) for service in self.pod.built)


@dataclass(frozen=True)
class ClawfileTarget(_Given):
    clawfile: Clawfile

    def job(self, tag: str | None) -> Job:
        return Job(str(self.path), self.path, self.path.parent, tag, self.clawfile)


@dataclass(frozen=True)
class BareTarget:
    def command(self, verb: str) -> str:
        return f"claw {verb}"


Target = Union[PodTarget, ClawfileTarget, BareTarget]  # noqa: UP007 - a runtime alias on Python 3.10


def target_of(
    positional: str | None,
    pod_file: str | None,
    cwd: Path,
    detail: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Target:
    """Find the target and read it: the pod (and later its Clawfiles), or the Clawfile.
    ``detail`` and ``warn`` hear what reading the pod has to say (``pod.load``)."""
    if pod_file:
        return _pod(Path(pod_file), True, detail, warn)
    if positional:
        path = Path(positional)
        if path.is_dir():
            if not (path / "Clawfile").is_file():
                raise InputError(f"{positional}: no Clawfile in this directory")
            return read_clawfile(path / "Clawfile")
        if path.suffix in (".yml", ".yaml"):
            return _pod(path, True, detail, warn)
        return read_clawfile(path)
    found = pod.find(cwd)
    if found is None:
        return BareTarget()
    shown = found.relative_to(cwd) if found.is_relative_to(cwd) else found
    return _pod(shown, False, detail, warn)


def read_clawfile(path: Path, *, given: bool = True) -> ClawfileTarget:
    from . import clawfile

    return ClawfileTarget(path, given, clawfile.parse(read_input(path, "Clawfile"), str(path)))


def _pod(
    path: Path, given: bool, detail: Callable[[str], None] | None, warn: Callable[[str], None] | None
) -> PodTarget:
    return PodTarget(path, given, pod.load(path, detail, warn))


def from_slips(jobs: Iterable[Job], aliases: Mapping[str, str]) -> dict[str, InputError]:
    """The jobs whose Clawfile has a FROM that looks like a slip of its runner's alias
    (``clawfile.from_slip``); ``aliases`` maps each driver to its runner's alias."""
    found = {}
    for job in jobs:
        if job.clawfile is None:
            continue
        alias = aliases.get(job.clawfile.claw_type)
        if not alias:
            continue
        from . import clawfile  # loaded already: the job's Clawfile was parsed

        slip = clawfile.from_slip(job.clawfile, alias)
        if slip is not None:
            found[job.name] = slip
    return found


def _service_job(service: pod.Service) -> Job:
    spec = service.build
    assert spec is not None
    parsed = None
    if spec.is_clawfile:
        from . import clawfile

        text = spec.text if spec.text is not None else read_input(spec.file, "Clawfile")
        parsed = clawfile.parse(text, str(spec.file))
    return Job(service.name, spec.file, spec.context, service.ref, parsed, spec.args, spec.target)
