"""The argv of docker and compose commands: pure functions, unit-tested without docker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import refs

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


def imagetools_args(ref: str) -> tuple[str, ...]:
    """``docker buildx imagetools inspect``: the descriptor of whatever ``ref`` names."""
    return ("buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", ref)


def manifest_args(ref: str) -> tuple[str, ...]:
    """``docker manifest inspect --verbose``, ``--insecure`` for the registries the engine
    reaches over plain HTTP by default."""
    insecure = ("--insecure",) if insecure_registry(ref) else ()
    return ("manifest", "inspect", "--verbose", *insecure, ref)


def insecure_registry(ref: str) -> bool:
    """Whether ``docker pull`` reaches the registry of ``ref`` over plain HTTP without any
    configuration: the engine treats ``127.0.0.0/8`` as insecure by default
    (``InsecureRegistryCIDRs`` in ``docker info``), and ``localhost`` resolves there.

    ``docker manifest inspect`` runs in the CLI, which knows nothing of the engine's
    setting: for such a registry it tries HTTPS only and then says ``no such manifest``
    (seen with a plain-HTTP registry on 127.0.0.1). ``--insecure`` lets it fall back to
    HTTP and skip certificate checks, which is what the engine does there. It is given
    for these registries only, never for one the engine checks TLS for. ``[::1]`` is not
    in the engine's default range, so it is not insecure either. (buildx's imagetools
    needs nothing: it speaks plain HTTP to loopback registries by itself.)"""
    import ipaddress  # only a registry question needs it

    domain = refs.split(ref).domain
    if domain.startswith("["):
        return False
    host = domain.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address in ipaddress.ip_network("127.0.0.0/8")


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
