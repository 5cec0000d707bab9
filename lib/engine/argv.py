"""The argv of docker and compose commands: pure functions, unit-tested without docker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BuildArg = tuple[str, str | None]
"""``(KEY, VALUE)``; a ``None`` value passes ``KEY`` through from the environment."""


@dataclass(frozen=True)
class ComposeCli:
    argv: tuple[str, ...]
    version: str
    env: Mapping[str, str] | None = None  # v1 on a named context: the environment naming its engine

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


DOCKER_ENDPOINT_VARIABLES = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


def context_environment(inspected: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str] | str:
    """The environment that makes docker-compose v1 (which has no ``--context``) drive the
    engine a docker context names, from ``docker context inspect``: ``DOCKER_HOST``, and
    ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` when the context has TLS material. A
    string: why the context cannot be said so."""
    name = inspected.get("Name") or "the context"
    endpoint = (inspected.get("Endpoints") or {}).get("docker") or {}
    host = endpoint.get("Host") or ""
    if not host:
        return f"context {name} names no docker endpoint"
    env = {key: value for key, value in environ.items() if key not in DOCKER_ENDPOINT_VARIABLES}
    env["DOCKER_HOST"] = host
    material = set((inspected.get("TLSMaterial") or {}).get("docker") or ())
    skip_verify = bool(endpoint.get("SkipTLSVerify"))
    if material:
        if not {"ca.pem", "cert.pem", "key.pem"} <= material:
            return f"context {name} has only part of its TLS material ({', '.join(sorted(material))})"
        tls_path = (inspected.get("Storage") or {}).get("TLSPath") or ""
        if not tls_path:
            return f"context {name} does not say where its TLS material is"
        env["DOCKER_CERT_PATH"] = str(Path(tls_path) / "docker")
        if not skip_verify:
            env["DOCKER_TLS_VERIFY"] = "1"
    elif skip_verify and host.startswith("tcp://"):
        return f"context {name} asks for TLS without verification and no certificates"
    return env
