"""docs/reliability.md's figures come from the suite's tally: the script renders what it is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts import tally

RUN: dict[str, Any] = {
    "tally": {"interruptions": 12, "hostile inputs tried": 250, "rollbacks raced": 3, "faults injected": 31},
    "tests": {"passed": 1012, "failed": 0, "errors": 0, "skipped": 0, "deselected": 0},
    "exitstatus": 0,
    "whole": True,
    "finished": "2026-12-03 10:41 UTC",
    "python": "3.11.7",
    "processes": 3,
    "toolchains": {
        "legacy+v1": "docker: /usr/bin/docker\ndocker --version: Docker version 28.2.2, build e6534b4\n"
        "docker compose version: (exit 1: docker: 'compose' is not a docker command.)\n"
        "docker-compose version --short: 1.29.2\n"
        "docker buildx version: (exit 1: docker: 'buildx' is not a docker command.)",
    },
}

RENDERED = """\
<!-- tally -->
From the whole suite's run of 2026-12-03 10:41 UTC (1012 tests passed on Python 3.11.7, 3 processes; \
`legacy+v1`: Docker version 28.2.2, build e6534b4; 1.29.2), written by `python -m scripts.tally` from \
the tally that run left in `.cache/tally.json`:

| what | tried | lost |
|---|---|---|
| faults injected into a refresh or the registry path | 31 | nothing |
| interruptions and kills of `claw pull` | 12 | nothing |
| hostile or broken inputs through the CLI | 250 | no traceback, every refusal names its file |
| rollbacks raced | 3 | nothing |

The run ended with

```
reliability tally: faults injected: 31, hostile inputs tried: 250, interruptions: 12, rollbacks raced: 3
```
<!-- /tally -->"""


def test_the_figures_are_the_counts_of_the_run_given() -> None:
    assert tally.render(RUN) == RENDERED


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"whole": False}, "the tally is of a partial run"),
        ({"exitstatus": 1, "tests": {**RUN["tests"], "failed": 2}}, "exit 1, 2 failed, 0 errors"),
        ({"tally": {}}, "the run counted nothing"),
    ],
)
def test_a_run_that_failed_or_was_partial_gives_no_figures(change: dict[str, Any], said: str) -> None:
    with pytest.raises(tally.Refused, match=said):
        tally.render({**RUN, **change})


PAGE = """\
# Reliability

Before the figures.

<!-- tally -->
| what | tried | lost |
| typed by hand | 9 | nothing |
<!-- /tally -->

After the figures.
"""


def test_the_page_changes_between_its_markers_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, page = tmp_path / "tally.json", tmp_path / "reliability.md"
    source.write_text(json.dumps(RUN))
    page.write_text(PAGE)
    assert tally.main(["--from", str(source), "--page", str(page)]) == 0
    assert page.read_text() == f"# Reliability\n\nBefore the figures.\n\n{RENDERED}\n\nAfter the figures.\n"
    assert capsys.readouterr().out == f"tally: written {page} from {source}\n"
    assert tally.main(["--from", str(source), "--page", str(page)]) == 0  # the markers stay: again
    assert RENDERED in page.read_text()


def test_a_page_without_its_markers_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, page = tmp_path / "tally.json", tmp_path / "reliability.md"
    source.write_text(json.dumps(RUN))
    page.write_text("# Reliability\n")
    assert tally.main(["--from", str(source), "--page", str(page)]) == 1
    assert page.read_text() == "# Reliability\n"
    assert capsys.readouterr().err == (
        "tally: the page needs one <!-- tally --> line and one <!-- /tally --> line after it\n"
    )


def test_without_a_tally_it_says_what_writes_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tally.main(["--from", str(tmp_path / "none.json"), "--page", str(tmp_path / "page.md")]) == 1
    assert "a whole run of the suite that passes writes it (make test)" in capsys.readouterr().err


def test_the_reliability_page_has_its_markers() -> None:
    page = (tally.ROOT / "docs" / "reliability.md").read_text()
    rewritten = tally.rewrite(page, "FIGURES")
    assert rewritten.startswith("# Reliability\n")
    assert "\nFIGURES\n" in rewritten
    assert tally.START not in rewritten
