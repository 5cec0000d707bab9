"""`make bench`: claw's own cost, measured side by side with a baseline, on the private engine.

Each ratio is the median of per-pair ratios from runs interleaved in the same
process (claw, baseline, claw, baseline, ...), so that machine noise hits both
alike; the spread is the interquartile range of those ratios. Nothing here
reaches the internet: runtimes come from the private registry.

  1. docker calls of `claw up --check` on pods of 1, 10, 50 and 200 services,
     counted by a recording shim in front of the real docker (must not grow);
  2. `claw up --check` at 200 services over one `docker image inspect` of their refs;
  3. `claw pull <Clawfile>` over the same build/inspect/probe/tag/rm sequence typed
     as raw docker commands in a shell script (goal <= 1.10);
  4. refreshing 4 runners with --jobs 4 over --jobs 1, builds waiting on a sleep
     (goal <= 0.5);
  5. start-up: `python claw.py --version` over `python -c "import click"` (goal <= 1.5).

    python -m scripts.bench [--record docs/performance.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lib import infra
from tests.harness import engine as harness
from tests.harness import shim, upstream

ROOT = Path(__file__).resolve().parent.parent
VERSION_SCRIPT = "#!/bin/sh\necho 'OpenClaw 2026.5.22 (3f2a9c1)'\n"
SIZES = (1, 10, 50, 200)
RUNNERS = ("openclaw", "nanobot", "microclaw", "nullclaw")
BUILD_SECONDS = 5  # a stand-in for the network wait of a real recipe, which takes minutes


@dataclass(frozen=True)
class Figure:
    name: str
    median: float
    low: float
    high: float
    goal: str
    ok: bool
    unit: str = "ratio"

    def row(self) -> str:
        spread = f"{self.low:.2f}-{self.high:.2f}"
        verdict = "ok" if self.ok else "OVER GOAL"
        return f"| {self.name} | {self.median:.2f} | {spread} | {self.goal} | {verdict} |"


class Bench:
    def __init__(self, engine: harness.Engine, work: Path) -> None:
        self.engine, self.work = engine, work
        self.env = {**os.environ, **engine.env, "CLAW_CONFIG": str(work / "claw.toml")}
        self.env["XDG_STATE_HOME"] = str(work / "state")

    def docker(self, *argv: str) -> str:
        return upstream.docker(self.engine, *argv)

    def claw(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        subprocess.run(
            [sys.executable, str(ROOT / "claw.py"), *args],
            cwd=cwd or self.work, env=env or self.env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def shell(self, script: Path) -> None:
        subprocess.run(
            ["sh", script], env=self.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def side_by_side(name: str, subject: Callable[[], object], baseline: Callable[[], object], runs: int,
                 goal: float | None) -> Figure:  # fmt: skip
    """Interleaved pairs; the name gains the median time claw adds, in seconds."""
    subject(), baseline()  # warm caches
    pairs = [(timed(subject), timed(baseline)) for _ in range(runs)]
    q1, median, q3 = statistics.quantiles([a / b for a, b in pairs], n=4, method="inclusive")
    added = statistics.median(a - b for a, b in pairs)
    label = f"{name} ({added:+.2f} s)"
    return Figure(label, median, q1, q3, f"<= {goal:g}" if goal else "-", goal is None or median <= goal)


# --------------------------------------------------------------------------
# Set-up: a runtime in the registry, runners, pods
# --------------------------------------------------------------------------


def setup(engine: harness.Engine) -> Bench:
    work = Path(tempfile.mkdtemp(prefix="claw-bench-"))
    runtime = upstream.publish(engine, "bench-runtime", "latest", {"usr/local/bin/openclaw": VERSION_SCRIPT})
    config = [
        "[pull]\nkeep = 100\n",
        "[infra]\n" + "".join(f'{c} = "bench/{c}:1"\n' for c in infra.components()),
    ]
    for driver in RUNNERS:
        (work / f"{driver}.Dockerfile").write_text(f"FROM {runtime}\nRUN sleep {BUILD_SECONDS}\n")
        config.append(
            f'[runners.{driver}]\nrecipe = "{driver}.Dockerfile"\nprobe = ["openclaw", "--version"]\n'
        )
    (work / "claw.toml").write_text("\n".join(config))
    for driver in RUNNERS:
        (work / driver).mkdir()
        (work / driver / "Clawfile").write_text(f"FROM {driver}\nCLAW_TYPE {driver}\n")
    bench = Bench(engine, work)
    bench.docker("pull", runtime)
    for size in SIZES:
        pod = work / f"pod-{size}"
        pod.mkdir()
        services = "".join(f"  s{i}:\n    image: bench/svc-{i}:1\n" for i in range(size))
        (pod / "claw-pod.yml").write_text(f"x-claw: {{pod: bench-{size}}}\nservices:\n{services}")
    for name in [f"svc-{i}" for i in range(max(SIZES))] + list(infra.components()):
        bench.docker("image", "tag", runtime, f"bench/{name}:1")
    return bench


# --------------------------------------------------------------------------
# The measures
# --------------------------------------------------------------------------


def docker_calls(bench: Bench) -> Figure:
    directory = shim.install(bench.work / "shim")
    log = bench.work / "calls.log"
    env = {**bench.env, "PATH": f"{directory}{os.pathsep}{os.environ['PATH']}", "CLAW_SHIM_LOG": str(log)}
    counts = []
    for size in SIZES:
        log.unlink(missing_ok=True)
        bench.claw("up", "--check", cwd=bench.work / f"pod-{size}", env=env)
        counts.append(len(log.read_text().splitlines()))
    print(f"  docker calls of `claw up --check` by pod size {dict(zip(SIZES, counts, strict=True))}")
    ratio = counts[-1] / counts[0]
    return Figure(f"docker calls of up --check: {SIZES[-1]} services / 1 ({counts[0]} calls)",
                  ratio, min(counts) / counts[0], max(counts) / counts[0], "= 1", ratio == 1)  # fmt: skip


def check_over_inspect(bench: Bench) -> Figure:
    size = SIZES[-1]
    refs = [f"bench/svc-{i}:1" for i in range(size)]
    return side_by_side(
        f"up --check, {size} services / one docker image inspect",
        lambda: bench.claw("up", "--check", cwd=bench.work / f"pod-{size}"),
        lambda: bench.docker("image", "inspect", "--format", "{{json .}}", *refs),
        runs=11, goal=None,
    )  # fmt: skip


def pull_over_script(bench: Bench) -> Figure:
    recipe = bench.work / "openclaw.Dockerfile"
    context = bench.work / "empty"
    context.mkdir(exist_ok=True)
    script = bench.work / "refresh.sh"
    script.write_text(f"""\
set -e
tmp=openclaw:raw-$$
docker build --iidfile {bench.work}/iid --force-rm --pull --no-cache --tag "$tmp" --file - \\
  --label claw.base.driver=openclaw --label claw.base.recipe-sha=sha256:0 {context} < {recipe}
id=$(docker image inspect --format '{{{{.Id}}}}' "$tmp")
docker run --rm --init --network none --pull never --name "raw-probe-$$" --entrypoint openclaw "$id" --version
docker image tag "$id" openclaw:v2026.5.22
docker image tag "$id" openclaw:latest
docker image rm "$tmp"
""")
    return side_by_side(
        "pull <Clawfile> / the same steps as a shell script",
        lambda: bench.claw("pull", "openclaw"),
        lambda: bench.shell(script),
        runs=5, goal=1.10,
    )  # fmt: skip


def parallel_refresh(bench: Bench) -> Figure:
    for driver in RUNNERS:  # bare mode refreshes the aliases present: make them present
        bench.claw("pull", driver)
    return side_by_side(
        f"refresh {len(RUNNERS)} runners: --jobs 4 / --jobs 1",
        lambda: bench.claw("pull", "--jobs", "4"),
        lambda: bench.claw("pull", "--jobs", "1"),
        runs=3, goal=0.5,
    )  # fmt: skip


def start_up() -> Figure:
    python = sys.executable

    def run(argv: Sequence[str]) -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)

    return side_by_side(
        'start-up: claw --version / python -c "import click"',
        lambda: run([python, "claw.py", "--version"]),
        lambda: run([python, "-c", "import click"]),
        runs=21, goal=1.5,
    )  # fmt: skip


def machine(engine: harness.Engine) -> str:
    server = upstream.docker(engine, "version", "--format", "{{.Server.Version}}")
    client = upstream.docker(engine, "version", "--format", "{{.Client.Version}}")
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, docker CLI {client}, engine {server} (legacy builder)"
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="Measure claw's own cost.")
    parser.add_argument("--record", type=Path, help="also write the figures to this markdown file")
    args = parser.parse_args(argv)
    print("claw bench: starting a private Docker engine and registry ...", flush=True)
    engine = harness.start()
    bench = None
    try:
        bench = setup(engine)
        about = machine(engine)
        figures = []
        for measure in (docker_calls, check_over_inspect, pull_over_script, parallel_refresh):
            print(f"measuring: {measure.__name__.replace('_', ' ')}", flush=True)
            figures.append(measure(bench))
        figures.append(start_up())
    finally:
        harness.stop(engine.root)
        if bench is not None:
            shutil.rmtree(bench.work, ignore_errors=True)
    table = "\n".join(
        ["| measure | median | spread (IQR) | goal | |", "|---|---|---|---|---|", *(f.row() for f in figures)]
    )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{table}\n\n{stamp}; {about}")
    if args.record:
        args.record.write_text(RECORD.format(stamp=stamp, machine=about, table=table))
    return 0 if all(f.ok for f in figures) else 1


RECORD = """\
# Performance

Written by `python -m scripts.bench --record docs/performance.md` (what `make bench`
runs, plus the record). Every figure is measured side by side in one run on the private
engine: the median of per-pair ratios of interleaved runs, with the interquartile range.

Measured {stamp} on {machine}.

{table}

What the rows mean:

- **docker calls**: `claw up --check` on pods of 1, 10, 50 and 200 registry services,
  counted by a recording shim in front of the real docker: one `docker image inspect` of
  every ref (which also proves the engine answers), whatever the pod's size.
- **up --check / inspect**: the whole command (Python start-up, reading the pod, the
  engine check) against the one `docker image inspect` it cannot avoid.
- **pull / shell script**: `claw pull` of one runner against the same `build --pull
  --no-cache`, inspect, probe, two tags and `rm` typed into a shell script. The recipe's
  build waits five seconds, a stand-in for a real recipe's downloads (minutes); the
  seconds claw adds are in the row's name: Python start-up and imports (`sh` alone
  imports `asyncio`), plus the quick docker calls the script skips (the alias's tags,
  leftover probe containers, whether buildx is there). Those seconds are nearly constant,
  so the ratio shrinks as builds grow; with this five-second stand-in it sits right at
  its goal (repeated runs here measured 1.08 to 1.11).
- **--jobs**: four runners whose builds wait five seconds each, refreshed in parallel
  against one at a time.
- **start-up**: `python claw.py --version` against `python -c "import click"`: `sh`,
  `tenacity`, `yaml` and `tomlkit` are imported only when needed.
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
