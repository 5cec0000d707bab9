"""`make bench`: claw's own cost, measured side by side with a baseline.

Each figure is a ratio of medians from runs interleaved in the same process
(claw, baseline, claw, baseline, ...) so that machine noise hits both alike;
the spread is the interquartile range of the per-pair ratios.

Measured now:
  start-up: `python claw.py --version` over `python -c "import click"` (goal <= 1.5)
The docker-call counts and wall-time ratios of `claw up --check` and `claw pull`
join this table when those verbs land.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 21


def timed(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def side_by_side(
    subject: Sequence[str], baseline: Sequence[str], runs: int = RUNS
) -> tuple[float, float, float]:
    """(median ratio, q1 ratio, q3 ratio) over ``runs`` interleaved pairs."""
    timed(subject), timed(baseline)  # warm the page cache
    ratios = [timed(subject) / timed(baseline) for _ in range(runs)]
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return median, q1, q3


def main() -> int:
    python = sys.executable
    median, q1, q3 = side_by_side([python, "claw.py", "--version"], [python, "-c", "import click"])
    verdict = "ok" if median <= 1.5 else "OVER GOAL"
    label = 'start-up: claw --version / python -c "import click"'
    print(f"{'measure':<56} {'median':>7} {'IQR':>15}  goal")
    print(f"{label:<56} {median:7.2f} {q1:7.2f}-{q3:<7.2f}  <= 1.5 ({verdict})")
    print(f"\n{RUNS} interleaved runs each. Pending until their verbs land: the docker calls")
    print("of `claw up --check` by pod size, `claw pull` overhead, and the --jobs speed-up.")
    return 0 if median <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
