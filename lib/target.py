"""What a verb works on: a pod file, a Clawfile, or nothing (bare).

``-f POD`` names a pod. A positional target is a pod when it ends in ``.yml`` or
``.yaml``, a directory holding ``Clawfile``, or else a Clawfile. With neither,
``claw-pod.yml`` (then ``claw-pod.yaml``) in the current directory is the pod;
without one the invocation is bare.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from lib import pod
from lib.errors import InputError

POD, CLAWFILE, BARE = "pod", "clawfile", "bare"


@dataclass(frozen=True)
class Target:
    mode: str  # pod | clawfile | bare
    path: Path | None = None  # as the operator gave it (or as auto-resolved)
    given: bool = True  # False: found in the current directory

    def pull_command(self) -> str:
        """The `claw pull` that brings what this target needs, in the invocation's shape."""
        return self.command("pull")

    def build_command(self) -> str:
        return self.command("build")

    def up_command(self) -> str:
        return self.command("up")

    def command(self, verb: str) -> str:
        """``claw VERB`` for this target: the pod with ``-f`` or the path as given."""
        if self.path is None or not self.given:
            return f"claw {verb}"
        if self.mode == POD:
            return f"claw {verb} -f {shlex.quote(str(self.path))}"
        return f"claw {verb} {shlex.quote(str(self.path))}"


def resolve(positional: str | None, pod_file: str | None, cwd: Path) -> Target:
    if pod_file:
        return Target(POD, Path(pod_file))
    if positional:
        path = Path(positional)
        if path.is_dir():
            if not (path / "Clawfile").is_file():
                raise InputError(f"{positional}: no Clawfile in this directory")
            return Target(CLAWFILE, path / "Clawfile")
        if path.suffix in (".yml", ".yaml"):
            return Target(POD, path)
        return Target(CLAWFILE, path)
    found = pod.find(cwd)
    if found is None:
        return Target(BARE)
    return Target(POD, found.relative_to(cwd) if found.is_relative_to(cwd) else found, given=False)
