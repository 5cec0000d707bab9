"""The argv of docker and compose commands: pure functions, unit-tested without docker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BuildArg = tuple[str, str | None]
"""``(KEY, VALUE)``; a ``None`` value passes ``KEY`` through from the environment."""


@dataclass(frozen=True)
class ComposeCli:
    argv: tuple[str, ...]
    version: str

    @property
    def v1(self) -> bool:
        return self.version.startswith("1.")


def build_args_for(
    context: Path,
    *,
    iidfile: Path,
    buildkit: bool,
    tag: str | None = None,
    dockerfile: Path | None = None,
    from_stdin: bool = False,
    labels: Mapping[str, str] | None = None,
    pull: bool = False,
    no_cache: bool = False,
    target: str | None = None,
    build_args: Sequence[BuildArg] = (),
) -> tuple[str, ...]:
    """The arguments of ``docker build`` (after ``docker``)."""
    argv: list[str] = ["build", "--iidfile", str(iidfile)]
    argv += ["--progress=plain"] if buildkit else ["--force-rm"]
    if pull:
        argv.append("--pull")
    if no_cache:
        argv.append("--no-cache")
    if tag:
        argv += ["--tag", tag]
    if from_stdin:
        argv += ["--file", "-"]
    elif dockerfile is not None:
        argv += ["--file", str(dockerfile)]
    if target:
        argv += ["--target", target]
    for key, value in build_args:
        argv += ["--build-arg", key if value is None else f"{key}={value}"]
    for key, value in (labels or {}).items():
        argv += ["--label", f"{key}={value}"]
    argv.append(str(context))
    return tuple(argv)


def probe_args(
    image: str, argv: Sequence[str], name: str, labels: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The arguments of ``docker run`` for a version probe (after ``docker``)."""
    entrypoint, *args = argv
    label_args = [arg for key, value in (labels or {}).items() for arg in ("--label", f"{key}={value}")]
    return (
        "run", "--rm", "--init", "--network", "none", "--pull", "never",
        "--name", name, *label_args, "--entrypoint", entrypoint, image, *args,
    )  # fmt: skip


def marker_args(name: str, image: str, labels: Mapping[str, str]) -> tuple[str, ...]:
    """``docker create`` of a container that is never started: a name held on the engine."""
    label_args = [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]
    return ("create", "--pull", "never", "--network", "none", "--name", name, *label_args, image)


def compose_up_args(cli: ComposeCli, *, detach: bool) -> tuple[str, ...]:
    """``up`` with images as they are: never build, never pull (v1 has no ``--pull``)."""
    args = ["up", "--no-build"]
    if not cli.v1:
        args += ["--pull", "never"]
    if detach:
        args.append("--detach")
    return tuple(args)
