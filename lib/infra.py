"""Pinned infra (SPEC §4): one exact ref per component, from ``data/infra.toml``.

The config file's ``[infra]`` table overrides a pin (air-gapped mirrors, tests).
Infra is pulled when missing and never built.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "infra.toml"


@cache
def defaults() -> Mapping[str, str]:
    """Component name -> pinned ref, as shipped."""
    with DATA.open("rb") as handle:
        return {str(name): str(ref) for name, ref in tomllib.load(handle).items()}


def components() -> tuple[str, ...]:
    return tuple(defaults())


def pinned(overrides: Mapping[str, str]) -> dict[str, str]:
    """The refs in force: the shipped pins with the config's overrides applied."""
    return {**defaults(), **overrides}
