"""compose.generated.yml (SPEC §6): the pod as compose runs it. Pure functions.

The pod without ``x-claw``; every service on its resolved image (never a
``build:``: images are checked before compose starts); labels ``claw.pod`` and
``claw.service``; one sidecar per infra component the pod uses, on the pod's
internal network ``claw``, and each service that uses a component pointed at it
by ``CLAW_<COMPONENT>_URL``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import infra
from .errors import InputError
from .pod import POD_FILES, Pod

NETWORK = "claw"  # the pod-internal network between services and their sidecars
NAME = "compose.generated.yml"
PROJECT = "com.docker.compose.project"  # compose's label on every container of a project


def project_label(project: str) -> str:
    """``key=value`` of the label compose puts on each container of ``project``."""
    return f"{PROJECT}={project}"


def path_for(pod_file: Path) -> Path:
    """``compose.generated.yml`` beside ``claw-pod.yml``; ``<stem>.compose.generated.yml``
    beside any other pod file, so two pods in one directory never share one."""
    if pod_file.name in POD_FILES:
        return pod_file.with_name(NAME)
    return pod_file.with_name(f"{pod_file.stem}.{NAME}")


def check(pod: Pod) -> None:
    """What would make the generated file wrong: a service named like a sidecar."""
    used = pod.infra()
    for service in pod.services:
        if service.name in used:
            raise InputError(
                f"{pod.path}: services.{service.name}: the name is taken by the {service.name} "
                "sidecar claw adds for this pod; rename the service"
            )


def generate(pod: Pod, pins: Mapping[str, str], images: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose document of the pod; ``images``: a service's image to run instead of the
    pod's (claw.lock's ``ref@digest``)."""
    check(pod)
    document = {k: copy.deepcopy(v) for k, v in pod.document.items() if k != "x-claw"}
    services: dict[str, Any] = document["services"]
    used = pod.infra()
    for service in pod.services:
        body = services[service.name]
        body.pop("x-claw", None)
        body.pop("build", None)
        body["image"] = (images or {}).get(service.name, service.ref)
        body["labels"] = {**_labels(body.get("labels")), "claw.pod": pod.name, "claw.service": service.name}
        needs = service.infra()
        if needs:
            _join(body, NETWORK)
            environment = _environment(body.get("environment"))
            for name in needs:
                component = infra.shipped()[name]
                environment.setdefault(component.url_variable, component.url())
            body["environment"] = environment
    for name in used:
        services[name] = {
            "image": pins[name],
            "labels": {"claw.pod": pod.name, "claw.service": name, "claw.infra": name},
            "networks": [NETWORK, "default"],
        }
    if used:
        document["networks"] = {**(document.get("networks") or {}), NETWORK: {"internal": True}}
    return document


def render(document: Mapping[str, Any], pod: Pod) -> str:
    import yaml

    header = f"# Written by `claw up` from {pod.path.name}; edit the pod, not this file.\n"
    return header + yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)


def _labels(value: Any) -> dict[str, str]:
    """Compose labels in either form (a mapping, or a list of ``key=value``) as a mapping."""
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    labels: dict[str, str] = {}
    for item in value if isinstance(value, list) else ():
        key, _, text = str(item).partition("=")
        labels[key] = text
    return labels


def _environment(value: Any) -> dict[str, Any]:
    """Compose environment in either form as a mapping (``KEY`` alone passes the host's value)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        pairs = [str(item).split("=", 1) for item in value]
        return {pair[0]: pair[1] if len(pair) == 2 else None for pair in pairs}
    return {}


def _join(body: dict[str, Any], network: str) -> None:
    """Add ``network`` to a service, keeping the networks it is on (``default`` when none)."""
    networks = body.get("networks")
    if networks is None:
        body["networks"] = ["default", network]
    elif isinstance(networks, list):
        body["networks"] = [*networks, network] if network not in networks else networks
    elif isinstance(networks, dict):
        networks.setdefault(network, None)
