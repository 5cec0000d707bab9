"""The figures of docs/reliability.md, written from the tally of the last whole run of the suite.

Tests that inject a fault, interrupt a run, start runs at once or feed hostile input call
``tests.conftest.tally(kind)``. A run of the whole suite that passes (``make test``; no
``-k``, ``-m`` or path) writes the counts, gathered from every worker, with what it ran to
``.cache/tally.json``. This script rewrites the part of the page between ``<!-- tally -->``
and ``<!-- /tally -->`` from that file, and refuses a run that failed or was not whole.

    python -m scripts.tally [--from .cache/tally.json] [--page docs/reliability.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- tally -->", "<!-- /tally -->"
NOTHING = "nothing"

# What each kind of the tally counts, and what the tests assert was lost: the rows of the page.
# A kind not listed here still gets its row, under its own name.
KINDS: dict[str, tuple[str, str]] = {
    "faults injected": ("faults injected into a refresh or the registry path", NOTHING),
    "interruptions": ("interruptions and kills of `claw pull`", NOTHING),
    "concurrent runs": ("`claw` runs at the same time (pulls and builds)", NOTHING),
    "engine faults": (
        "engine faults (docker missing, engine unreachable, engine stopped mid-refresh)",
        NOTHING,
    ),
    "hostile inputs tried": (
        "hostile or broken inputs through the CLI",
        "no traceback, every refusal names its file",
    ),
}


class Refused(Exception):
    """The tally cannot give the page its figures; the message says why."""


def check(run: Mapping[str, Any]) -> None:
    """Refused unless ``run`` is a whole run of the suite that passed and counted something."""
    tests = run.get("tests", {})
    if not run.get("whole"):
        raise Refused(
            f"the tally is of a partial run ({tests.get('deselected', 0)} tests deselected, or paths, "
            "-k or -m given): the page's figures come from the whole suite (make test)"
        )
    if run.get("exitstatus") != 0 or tests.get("failed") or tests.get("errors"):
        raise Refused(
            f"the tally is of a run that failed (exit {run.get('exitstatus')}, "
            f"{tests.get('failed', 0)} failed, {tests.get('errors', 0)} errors)"
        )
    if not run.get("tally"):
        raise Refused("the run counted nothing (were the integration tests skipped?)")


def toolchain(described: str) -> str:
    """What a toolchain's description says of its versions, on one line (commands that fail left out)."""
    answers = [line.split(": ", 1)[1] for line in described.splitlines() if ": " in line]
    return "; ".join(answer for answer in answers[1:] if not answer.startswith("("))


def render(run: Mapping[str, Any]) -> str:
    """The page's figures for ``run`` (as conftest writes it): the block between the markers."""
    check(run)
    counts: dict[str, int] = dict(run["tally"])
    rows = [
        f"| {KINDS.get(kind, (kind, NOTHING))[0]} | {count} | {KINDS.get(kind, (kind, NOTHING))[1]} |"
        for kind, count in sorted(counts.items(), key=lambda item: (item[0] not in KINDS, order(item[0])))
    ]
    tests = run["tests"]
    chains = run.get("toolchains", {})
    under = "; ".join(f"`{name}`: {toolchain(text)}" for name, text in sorted(chains.items()))
    closing = ", ".join(f"{kind}: {count}" for kind, count in sorted(counts.items()))
    return "\n".join(
        [
            START,
            f"From the whole suite's run of {run['finished']} ({tests['passed']} tests passed on Python "
            f"{run['python']}, {run['processes']} processes{'; ' + under if under else ''}), "
            "written by `python -m scripts.tally` from the tally that run left in `.cache/tally.json`:",
            "",
            "| what | tried | lost |",
            "|---|---|---|",
            *rows,
            "",
            "The run ended with",
            "",
            "```",
            f"reliability tally: {closing}",
            "```",
            END,
        ]
    )


def order(kind: str) -> int:
    """Listed kinds in the order of KINDS, the others after them by name."""
    return list(KINDS).index(kind) if kind in KINDS else 0


def rewrite(page: str, block: str) -> str:
    """``page`` with its part between the markers (the markers included) replaced by ``block``."""
    if page.count(START) != 1 or page.count(END) != 1 or page.index(START) > page.index(END):
        raise Refused(f"the page needs one {START} line and one {END} line after it")
    before, rest = page.split(START)
    return before + block + rest.split(END, 1)[1]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Write docs/reliability.md's figures from the suite's tally."
    )
    parser.add_argument("--from", dest="source", type=Path, default=ROOT / ".cache" / "tally.json")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "reliability.md")
    args = parser.parse_args(argv)
    try:
        run = json.loads(args.source.read_text())
    except FileNotFoundError:
        print(
            f"tally: no {args.source}: a whole run of the suite that passes writes it (make test)",
            file=sys.stderr,
        )
        return 1
    try:
        page = rewrite(args.page.read_text(), render(run))
    except Refused as refused:
        print(f"tally: {refused}", file=sys.stderr)
        return 1
    args.page.write_text(page)
    print(f"tally: written {args.page} from {args.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
