"""The bench's page: given rows in, the markdown out; and the facts it states are counted, not typed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts import bench
from scripts.bench import Figure
from tests.harness import toolchains

LEGACY = "legacy builder (no buildx)"
BUILDKIT = "BuildKit (buildx v0.23.0)"
PULL = "pull --rebuild <Clawfile> / the same steps as a shell script"

FIGURES = [
    Figure(
        "docker calls of up --check: 200 services / 1 (1 calls) [legacy+v1]", 1.0, 1.0, 1.0, "= 1", True,
        notes=("[legacy+v1] docker calls of `claw up --check` by pod size: 1: 1, 10: 1, 50: 1, 200: 1",),
        builder=LEGACY,
    ),
    Figure(
        f"{PULL} [legacy+v1]", 1.09, 1.07, 1.10, "<= 1.1", True, 0.566, 6.502,
        notes=("[legacy+v1] docker calls of `claw pull --rebuild <Clawfile>`: 11 (pull, build, run); the script's: 6",),
        builder=LEGACY,
    ),
    Figure(
        f"{PULL} [buildkit+v2]", 1.11, 1.11, 1.12, "<= 1.1", False, 0.686, 6.330,
        notes=("[buildkit+v2] docker calls of `claw pull --rebuild <Clawfile>`: 13 (pull, build, run); the script's: 6",),
        builder=BUILDKIT,
    ),
    Figure(
        'start-up: claw --version / python -c "import click"', 0.98, 0.89, 1.09, "<= 1.3", True, -0.002, 0.110,
        notes=("`claw --version`: imports took 94 ms in all; among them click 48 ms",),
    ),
]  # fmt: skip

HEADER = f"""\
Measured 2026-12-03 10:00 UTC on Linux 6.1, 2 CPUs, Python 3.11.7; builders: {BUILDKIT} for \
`{PULL} [buildkit+v2]`; {LEGACY} for the other rows on the engine. A row or a note marked
`[legacy+v1]` or `[buildkit+v2]` ran on that toolchain (its own docker configuration: the
legacy builder with compose v1, or BuildKit with compose v2); docker calls are counted
on the toolchain named beside them."""

TABLE = f"""\
| measure | median | spread (IQR) | difference (median) | goal | |
|---|---|---|---|---|---|
| docker calls of up --check: 200 services / 1 (1 calls) [legacy+v1] | 1.00 | 1.00-1.00 | - | = 1 | ok |
| {PULL} [legacy+v1] | 1.09 | 1.07-1.10 | +0.566 s over 6.502 s | <= 1.1 | ok |
| {PULL} [buildkit+v2] | 1.11 | 1.11-1.12 | +0.686 s over 6.330 s | <= 1.1 | OVER GOAL |
| start-up: claw --version / python -c "import click" | 0.98 | 0.89-1.09 | -0.002 s over 0.110 s | <= 1.3 | ok |"""

FACTS = """\
- [legacy+v1] docker calls of `claw up --check` by pod size: 1: 1, 10: 1, 50: 1, 200: 1
- [legacy+v1] docker calls of `claw pull --rebuild <Clawfile>`: 11 (pull, build, run); the script's: 6
- [buildkit+v2] docker calls of `claw pull --rebuild <Clawfile>`: 13 (pull, build, run); the script's: 6
- `claw --version`: imports took 94 ms in all; among them click 48 ms"""


def test_the_page_has_the_rows_given_their_notes_and_the_builder_of_each() -> None:
    page = bench.record("2026-12-03 10:00 UTC", "Linux 6.1, 2 CPUs, Python 3.11.7", FIGURES)
    paragraphs = page.split("\n\n")
    assert paragraphs[0] == "# Performance"
    assert paragraphs[2] == HEADER
    assert paragraphs[3] == TABLE
    assert paragraphs[4:6] == ["Also measured in this run:", FACTS]
    assert "typed into a shell script (6 docker\n  calls)" in page
    assert "{" not in page  # every field of the template filled


def test_a_page_of_one_builder_names_it_once() -> None:
    assert bench.builders(FIGURES[:2] + FIGURES[3:]) == f"builder: {LEGACY} for every row on the engine"
    assert bench.builders(FIGURES[3:]) == "no row used the engine"


def test_the_scripts_docker_calls_are_counted_from_the_script_it_runs(tmp_path: Path) -> None:
    script = bench.refresh_script(tmp_path)
    assert bench.docker_calls_in(script) == 6  # build, inspect, run, tag, tag, rm
    assert [line.split()[0] for line in script.splitlines() if "docker" in line.split()[:1]] == ["docker"] * 5
    assert (
        bench.docker_calls_in("docker a\nx=$(docker b)\nc && docker d | docker e; docker f\n# docker g\n")
        == 5
    )


class Unstarted(bench.Bench):
    """A bench whose commands see the unit tests' docker (no engine), through the toolchain set."""

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        return self.toolchain.env(env) if self.toolchain else env


def test_a_row_on_a_toolchain_names_it_in_its_name_its_notes_and_its_builder() -> None:
    def measure(on: bench.Bench) -> Figure:
        assert on.toolchain is not None
        assert on.env["DOCKER_CONFIG"] == str(on.work / "docker-config-legacy-v1")
        return Figure("calls", 2.0, 2.0, 2.0, "<= 2", True, notes=("docker calls of a pull: 2",))

    measured = Unstarted()
    try:
        figure = bench.under(toolchains.LEGACY, measure)(measured)
    finally:
        measured.close()
    assert figure.name == "calls [legacy+v1]"
    assert figure.notes == ("[legacy+v1] docker calls of a pull: 2",)
    assert figure.builder == LEGACY  # the unit tests' docker has no buildx
    assert measured.toolchain is None


@pytest.mark.parametrize(("needs_engine", "used"), [(True, LEGACY), (False, None)])
def test_a_row_on_the_hosts_docker_configuration_names_its_builder(
    needs_engine: bool, used: str | None
) -> None:
    row = bench.Row("row", lambda _: Figure("row", 1.0, 1.0, 1.0, "<= 1", True), engine=needs_engine)
    on = Unstarted()
    try:
        assert bench.measured(row, on).builder == used
    finally:
        on.close()


@pytest.mark.parametrize("row", ["docker-calls", "pull", "pull-buildkit", "livecheck-calls"])
def test_every_row_that_counts_docker_calls_runs_on_a_named_toolchain(row: str) -> None:
    (chosen,) = bench.select([row])
    assert chosen.measure.__qualname__ == "under.<locals>.measured"


def test_the_module_docstring_lists_every_row() -> None:
    listed = {
        line.split()[0]
        for line in (bench.__doc__ or "").splitlines()
        if line.startswith("  ") and line.split()
    }
    assert {row.name for row in bench.ROWS} <= listed
