"""Upstream's runtime, checked before the build (SPEC §12.4): pure data.

An npm release declares the node it needs (``engines.node`` of that version), a PyPI
release the Python (``requires_python``); the official node and python images say which
they carry (``NODE_VERSION``, ``PYTHON_VERSION`` in their Env). A range is read as its
registry reads it, by a well-kept library: npm's with node-semver, PEP 440's with
packaging. When either side is unknown, nothing is checked and nothing is said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

CARRIED = {"node": "NODE_VERSION", "python": "PYTHON_VERSION"}  # runtime -> the Env variable


@dataclass(frozen=True)
class Need:
    """What one answered release declares: ``npm:openclaw 2026.9.6`` needs node ``>=24.16.0``."""

    who: str  # the answer as messages say it
    runtime: str  # node | python
    range: str

    @classmethod
    def parse(cls, who: str, declared: str) -> Need | None:
        """From an answer's ``runtime`` text (``node >=24.16.0 <25``); None if not one."""
        runtime, _, wanted = declared.partition(" ")
        return cls(who, runtime, wanted.strip()) if runtime in CARRIED and wanted.strip() else None


def carried(env: Iterable[str]) -> dict[str, str]:
    """The runtimes an image says it carries: ``{"node": "22.21.1"}``."""
    values = dict(item.partition("=")[::2] for item in env)
    return {runtime: values[variable] for runtime, variable in CARRIED.items() if values.get(variable)}


def satisfies(need: Need, version: str) -> bool | None:
    """Whether ``version`` is in the range; None when the range or the version cannot be read."""
    if need.runtime == "node":
        import nodesemver  # type: ignore[import-untyped]  # ships no type information

        if nodesemver.valid_range(need.range, loose=True) is None:
            return None
        try:
            return bool(nodesemver.satisfies(version, need.range, loose=True))
        except (ValueError, TypeError):
            return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(need.range).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None


def conflicts(needs: Sequence[Need], images: Mapping[str, Sequence[str]]) -> list[str]:
    """One phrase per (need, image) that disagree: ``npm:openclaw 2026.9.6 needs node
    >=24.16.0 <25 || >=26.1.0; node:22-slim has node 22.21.1``. ``images``: each FROM
    image as the recipe names it, with its Env."""
    found = []
    for need in needs:
        for image, env in images.items():
            version = carried(env).get(need.runtime)
            if version is not None and satisfies(need, version) is False:
                found.append(
                    f"{need.who} needs {need.runtime} {need.range}; {image} has {need.runtime} {version}"
                )
    return found
