"""Pinned infra (SPEC §4): one exact ref per component, from ``data/infra.toml``.

The config file's ``[infra]`` table overrides a pin (air-gapped mirrors, tests).
Infra is pulled when missing and never built. ``claw up`` runs each component a
pod uses as a sidecar on the pod's internal network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from .files import DATA


@dataclass(frozen=True)
class Component:
    name: str
    ref: str  # as shipped
    port: int

    @property
    def url_variable(self) -> str:
        """The environment variable that points a service at this component."""
        return "CLAW_" + self.name.upper().replace("-", "_") + "_URL"

    def url(self) -> str:
        return f"http://{self.name}:{self.port}"


@cache
def shipped() -> Mapping[str, Component]:
    import tomlkit

    rows = tomlkit.parse((DATA / "infra.toml").read_text(encoding="utf-8")).unwrap()
    return {name: Component(name, str(row["ref"]), int(row["port"])) for name, row in rows.items()}


def components() -> tuple[str, ...]:
    return tuple(shipped())


def defaults() -> dict[str, str]:
    """Component name -> pinned ref, as shipped."""
    return {name: c.ref for name, c in shipped().items()}


def pinned(overrides: Mapping[str, str]) -> dict[str, str]:
    """The refs in force: the shipped pins with the config's overrides applied."""
    return {**defaults(), **overrides}
