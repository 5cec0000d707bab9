"""`make bench`: claw's own cost, measured side by side with a baseline, on the private engine.

Each ratio is the median of per-pair ratios from runs interleaved in the same
process (claw, baseline, baseline, claw, ...: the order alternates, so that
neither side always runs on caches the other warmed), and machine noise hits
both alike; the spread is the interquartile range of those ratios. Nothing here
reaches the internet: runtimes come from the private registry.

The rows (``--list`` prints them, ``--only NAME`` runs some of them):

  docker-calls   docker calls of `claw up --check` on pods of 1, 10, 50 and 200 services,
                 counted by a recording shim in front of the real docker (must not grow),
                 on the legacy builder with compose v1 (legacy+v1);
  check-200      `claw up --check` at 200 services over the floor: a Python process that
                 imports claw's packages (click, sh, PyYAML, tomlkit), reads the pod with
                 libyaml and makes one `docker image inspect --format '{{.Id}}'` of the
                 200 refs (goal <= 1.15); the bare inspect's ratio is a note;
  verb-start-up  `claw up --check` of a 1-service pod over the same floor on that pod
                 (goal <= 1.5);
  pull           `claw pull --rebuild <Clawfile>` over the same build/inspect/probe/tag/rm
                 sequence typed as raw docker commands in a shell script (goal <= 1.10),
                 on the legacy builder with compose v1 (legacy+v1);
  pull-buildkit  the same on BuildKit with compose v2 (buildkit+v2; its plugins are
                 fetched into .cache/toolchains as the tests fetch them);
  jobs           `claw pull --rebuild` of 4 runners with --jobs 4 over --jobs 1, builds
                 waiting on a sleep (goal <= 0.5);
  start-up       `python claw.py --version` over `python -c "import click"` (goal <= 1.3);
  livecheck      `claw pull` with nothing new upstream over `claw pull` of a new release
                 (goal <= 0.15);
  livecheck-calls  docker calls of that unchanged pull (goal: <= one per FROM image plus
                 one, no build), on legacy+v1;
  engines        `claw --context a,b pull --rebuild` of one runner on two engines (a second
                 dockerd beside the first) over `--context a` alone (goal <= 1.3);
  locked         `claw pull --locked` of a runner whose base matches claw.lock over
                 `claw up --check` of a 1-service pod (goal <= 1.5);
  locked-calls   docker calls of that locked pull (goal: one inspect, nothing asked of a
                 registry), on legacy+v1.

A row is a function from a Bench to a Figure, listed in ROWS; the private engine
starts when the first row that needs it asks for ``bench.engine``. A row over its
goal prints OVER GOAL and the bench exits 1. A row run on a named toolchain (``under``)
carries its id in its name and in each of its notes; the page's header names the
builder each row used. The script of the pull row's baseline counts its own docker
calls (``docker_calls_in``).

    python -m scripts.bench [--only NAME ...] [--record docs/performance.md]
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tests.harness import engine as harness
from tests.harness import shim, toolchains, upstream

ROOT = Path(__file__).resolve().parent.parent
CLAW = str(ROOT / "claw.py")
VERSION_SCRIPT = "#!/bin/sh\necho 'OpenClaw 2026.5.22 (3f2a9c1)'\n"
SIZES = (1, 10, 50, 200)
RUNNERS = ("openclaw", "nanobot", "microclaw", "nullclaw")
LIVE, LIVE_RUNTIME = "picoclaw", "bench-live-runtime"  # the livecheck rows' own runner and upstream
BUILD_SECONDS = 5  # a stand-in for the network wait of a real recipe, which takes minutes
INSPECT = ("docker", "image", "inspect", "--format", "{{json .}}")  # the call `up --check` makes


def say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Figure:
    """One row of the table, and what else its run measured."""

    name: str
    median: float
    low: float
    high: float
    goal: str
    ok: bool
    added: float | None = None  # median seconds claw adds over the baseline
    baseline: float | None = None  # median seconds of the baseline
    notes: tuple[str, ...] = ()  # facts measured by the same run, for the record
    builder: str | None = None  # the builder `docker build` used for the row (None: no engine)

    def row(self) -> str:
        spread = f"{self.low:.2f}-{self.high:.2f}"
        added = "-" if self.added is None else f"{self.added:+.3f} s"
        if self.baseline is not None:
            added += f" over {self.baseline:.3f} s"
        verdict = "ok" if self.ok else "OVER GOAL"
        return f"| {self.name} | {self.median:.2f} | {spread} | {added} | {self.goal} | {verdict} |"


TABLE_HEAD = "| measure | median | spread (IQR) | difference (median) | goal | |\n|---|---|---|---|---|---|"


class Bench:
    """A scratch directory, and the private engine with its fixtures once a row asks for it."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="claw-bench-"))
        self._engine: harness.Engine | None = None
        self.toolchain: toolchains.Toolchain | None = None  # None: the host's docker configuration

    @property
    def started(self) -> bool:
        return self._engine is not None

    @property
    def engine(self) -> harness.Engine:
        if self._engine is None:
            say("starting a private Docker engine and registry ...")
            self._engine = harness.start()
            say("preparing runners, pods and images ...")
            prepare(self)
        return self._engine

    @property
    def env(self) -> dict[str, str]:
        """The environment of every claw and docker command of the run."""
        env = {
            **os.environ,
            **self.engine.env,
            "CLAW_CONFIG": str(self.work / "claw.toml"),
            "XDG_STATE_HOME": str(self.work / "state"),
        }
        return self.toolchain.env(env) if self.toolchain else env

    def docker(self, *argv: str) -> str:
        return upstream.docker(self.engine, *argv)

    def run(self, argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        """One command, output discarded, as both sides of a pair are run."""
        output(argv, cwd or self.work, env or self.env, stdout=False)

    def claw(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.run([sys.executable, CLAW, *args], cwd=cwd, env=env)

    def calls(self, action: Callable[[dict[str, str]], object]) -> list[str]:
        """The docker calls ``action(env)`` makes, as the recording shim logs them."""
        directory = shim.install(self.work / "shim")
        log = self.work / "calls.log"
        log.unlink(missing_ok=True)
        action(
            {**self.env, "PATH": f"{directory}{os.pathsep}{os.environ['PATH']}", "CLAW_SHIM_LOG": str(log)}
        )
        return log.read_text().splitlines() if log.exists() else []

    def close(self) -> None:
        if self._engine is not None:
            harness.stop(self._engine.root)
        shutil.rmtree(self.work, ignore_errors=True)


class CommandFailed(Exception):
    """A command of the bench failed; the message says which and how."""


def output(argv: Sequence[str], cwd: Path, env: dict[str, str], *, stdout: bool = True) -> str:
    """Run ``argv``; its standard output (when asked for), or CommandFailed with its last words."""
    result = subprocess.run(
        argv, cwd=cwd, env=env, check=False, text=True,
        stdout=subprocess.PIPE if stdout else subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    if result.returncode != 0:
        said = " | ".join(result.stderr.strip().splitlines()[-3:]) or "no message"
        command = " ".join(Path(word).name if os.sep in word else word for word in argv[:4])
        raise CommandFailed(f"`{command} ...` exited {result.returncode}: {said}")
    return result.stdout or ""


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Pairs:
    """Ratios subject / baseline of interleaved runs."""

    median: float
    low: float  # first quartile
    high: float  # third quartile
    added: float  # median seconds the subject takes over the baseline
    baseline: float  # median seconds of the baseline


def pairs(subject: Callable[[], object], baseline: Callable[[], object], runs: int) -> Pairs:
    """Interleaved pairs, the order alternating within pairs, after one warm-up of each."""
    subject(), baseline()
    times = []
    for i in range(runs):
        if i % 2:
            after = timed(baseline)
            times.append((timed(subject), after))
        else:
            first = timed(subject)
            times.append((first, timed(baseline)))
    q1, median, q3 = statistics.quantiles([a / b for a, b in times], n=4, method="inclusive")
    added = statistics.median(a - b for a, b in times)
    return Pairs(median, q1, q3, added, statistics.median(b for _, b in times))


def side_by_side(name: str, subject: Callable[[], object], baseline: Callable[[], object], runs: int,
                 goal: float, notes: Sequence[str] = ()) -> Figure:  # fmt: skip
    measured = pairs(subject, baseline, runs)
    return Figure(name, measured.median, measured.low, measured.high, f"<= {goal:g}",
                  measured.median <= goal, measured.added, measured.baseline, tuple(notes))  # fmt: skip


# --------------------------------------------------------------------------
# Set-up: a runtime in the registry, runners, pods, every image they name
# --------------------------------------------------------------------------


def infra_components(bench: Bench) -> list[str]:
    """The pinned infra components, as claw itself plans them (a dry-run bare pull)."""
    empty = bench.work / "empty"
    empty.mkdir(exist_ok=True)
    (bench.work / "empty.toml").write_text("")
    plan = output(
        [sys.executable, CLAW, "pull", "--no-runners", "--dry-run", "--json"],
        empty, {**bench.env, "CLAW_CONFIG": str(bench.work / "empty.toml")},
    )  # fmt: skip
    return [action["name"] for action in json.loads(plan)["actions"] if action["kind"] == "infra"]


def prepare(bench: Bench) -> None:
    work = bench.work
    runtime = upstream.publish(
        bench.engine, "bench-runtime", "latest", {"usr/local/bin/openclaw": VERSION_SCRIPT}
    )
    components = infra_components(bench)
    config = [
        "[pull]\nkeep = 100\n",
        "[infra]\n" + "".join(f'{c} = "bench/{c}:1"\n' for c in components),
    ]
    for driver in RUNNERS:
        (work / f"{driver}.Dockerfile").write_text(f"FROM {runtime}\nRUN sleep {BUILD_SECONDS}\n")
        config.append(
            f'[runners.{driver}]\nrecipe = "{driver}.Dockerfile"\nprobe = ["openclaw", "--version"]\n'
            "upstream = []\n"  # livecheck follows the FROM image; the bench asks no real registry
        )
    live = upstream.publish(bench.engine, LIVE_RUNTIME, "latest", {"usr/local/bin/openclaw": VERSION_SCRIPT})
    (work / "live.Dockerfile").write_text(f"FROM {live}\nRUN sleep {BUILD_SECONDS}\n")
    config.append(
        f'[runners.{LIVE}]\nrecipe = "live.Dockerfile"\nprobe = ["openclaw", "--version"]\nupstream = []\n'
    )
    (work / "claw.toml").write_text("\n".join(config))
    (work / LIVE).mkdir()
    (work / LIVE / "Clawfile").write_text(f"FROM {LIVE}\nCLAW_TYPE {LIVE}\n")
    for driver in RUNNERS:
        (work / driver).mkdir()
        (work / driver / "Clawfile").write_text(f"FROM {driver}\nCLAW_TYPE {driver}\n")
    bench.docker("pull", runtime)
    for size in SIZES:
        pod = work / f"pod-{size}"
        pod.mkdir()
        services = "".join(f"  s{i}:\n    image: bench/svc-{i}:1\n" for i in range(size))
        (pod / "claw-pod.yml").write_text(f"x-claw: {{pod: bench-{size}}}\nservices:\n{services}")
    for name in [f"svc-{i}" for i in range(max(SIZES))] + components:
        bench.docker("image", "tag", runtime, f"bench/{name}:1")


# --------------------------------------------------------------------------
# The rows
# --------------------------------------------------------------------------


def docker_calls(bench: Bench) -> Figure:
    def check(size: int) -> int:
        return len(
            bench.calls(lambda env: bench.claw("up", "--check", cwd=bench.work / f"pod-{size}", env=env))
        )

    counts = [check(size) for size in SIZES]
    by_size = ", ".join(f"{size}: {count}" for size, count in zip(SIZES, counts, strict=True))
    ratio = counts[-1] / counts[0]
    return Figure(
        f"docker calls of up --check: {SIZES[-1]} services / 1 ({counts[0]} calls)",
        ratio, min(counts) / counts[0], max(counts) / counts[0], "= 1", ratio == 1,
        notes=(f"docker calls of `claw up --check` by pod size: {by_size}",),
    )  # fmt: skip


# The floor under claw's own work: the least that answers `up --check` on claw's packages
# (SPEC's design card): start the interpreter, import click, sh, PyYAML and tomlkit, read
# the pod with libyaml, and make one `docker image inspect --format '{{.Id}}'` of its
# images through sh.
FLOOR_CHECK = """\
import sys, click, sh, tomlkit, yaml
with open(sys.argv[1], encoding="utf-8") as pod:
    services = yaml.load(pod, Loader=yaml.CSafeLoader)["services"]
sh.docker("image", "inspect", "--format", "{{.Id}}", *[service["image"] for service in services.values()])
"""


def floor_check(bench: Bench, pod: Path) -> Callable[[], object]:
    return lambda: bench.run([sys.executable, "-c", FLOOR_CHECK, str(pod / "claw-pod.yml")])


def check_over_floor(bench: Bench) -> Figure:
    size = SIZES[-1]
    pod = bench.work / f"pod-{size}"
    check = [sys.executable, CLAW, "up", "--check", "-f", str(pod / "claw-pod.yml")]
    inspect = [*INSPECT, *(f"bench/svc-{i}:1" for i in range(size))]
    bare = pairs(lambda: bench.run(check), lambda: bench.run(inspect), runs=11)
    notes = [
        f"`claw up --check` of the {size}-service pod over the bare `docker image inspect` it makes: "
        f"{bare.median:.2f} (IQR {bare.low:.2f}-{bare.high:.2f}); claw adds {bare.added:+.3f} s "
        f"over {bare.baseline:.3f} s",
        *imports(f"`claw up --check` ({size} services)", check, pod, bench.env),
    ]
    return side_by_side(
        f"up --check, {size} services / the floor on claw's packages",
        lambda: bench.run(check),
        floor_check(bench, pod),
        runs=21, goal=1.15, notes=notes,
    )  # fmt: skip


def verb_start_up(bench: Bench) -> Figure:
    pod = bench.work / "pod-1"
    check = [sys.executable, CLAW, "up", "--check", "-f", str(pod / "claw-pod.yml")]
    inspect = [*INSPECT, "bench/svc-0:1"]
    bare = pairs(lambda: bench.run(check), lambda: bench.run(inspect), runs=15)
    notes = [
        f"`claw up --check` of the 1-service pod over the bare `docker image inspect`: {bare.median:.2f} "
        f"(IQR {bare.low:.2f}-{bare.high:.2f}); claw adds {bare.added:+.3f} s over {bare.baseline:.3f} s",
        *imports("`claw up --check` (1 service)", check, pod, bench.env),
    ]
    return side_by_side(
        "start-up of a verb: up --check, 1 service / the floor on claw's packages",
        lambda: bench.run(check),
        floor_check(bench, pod),
        runs=21, goal=1.5, notes=notes,
    )  # fmt: skip


def refresh_script(work: Path) -> str:
    """The pull row's baseline: a refresh typed as raw docker commands (build, inspect, probe,
    two tags, rm of the temporary tag), on the recipe and empty context under ``work``."""
    return f"""\
set -e
tmp=openclaw:raw-$$
docker build --iidfile {work}/iid --force-rm --pull --no-cache --tag "$tmp" --file - \\
  --label claw.base.driver=openclaw --label claw.base.recipe-sha=sha256:0 {work / "empty"} \\
  < {work / "openclaw.Dockerfile"}
id=$(docker image inspect --format '{{{{.Id}}}}' "$tmp")
docker run --rm --init --network none --pull never --name "raw-probe-$$" --entrypoint openclaw "$id" --version
docker image tag "$id" openclaw:v2026.5.22
docker image tag "$id" openclaw:latest
docker image rm "$tmp"
"""


def docker_calls_in(script: str) -> int:
    """How many docker commands a shell script runs, read from its text: ``docker`` where a
    command starts (a line's start, after ``$(``, ``;``, ``&&``, ``||`` or ``|``)."""
    return len(re.findall(r"(?:^|\$\(|;|&&|\|\||\|)\s*docker\s", script, flags=re.MULTILINE))


def pull_over_script(bench: Bench) -> Figure:
    (bench.work / "empty").mkdir(exist_ok=True)
    text = refresh_script(bench.work)
    script = bench.work / "refresh.sh"
    script.write_text(text)
    # --rebuild: refresh although nothing moved upstream, as the script always does
    calls = bench.calls(lambda env: bench.claw("pull", "--rebuild", "openclaw", env=env))
    kinds = Counter(" ".join(verb(call)) for call in calls)
    summary = ", ".join(f"{kind} x{count}" if count > 1 else kind for kind, count in kinds.items())
    return side_by_side(
        "pull --rebuild <Clawfile> / the same steps as a shell script",
        lambda: bench.claw("pull", "--rebuild", "openclaw"),
        lambda: bench.run(["sh", str(script)]),
        runs=5, goal=1.10,
        notes=[f"docker calls of `claw pull --rebuild <Clawfile>`: {len(calls)} ({summary}); "
               f"the script's: {docker_calls_in(text)}"],
    )  # fmt: skip


GROUPS = ("image", "container", "network", "volume", "buildx", "builder", "system", "compose", "context")


def verb(call: str) -> list[str]:
    """A docker call's command words (``image tag``, ``run``), without options and arguments."""
    words = call.split()
    return words[:2] if words[:1] and words[0] in GROUPS else words[:1]


def parallel_refresh(bench: Bench) -> Figure:
    for driver in RUNNERS:  # bare mode refreshes the aliases present: make them present
        bench.claw("pull", driver)
    return side_by_side(
        f"pull --rebuild of {len(RUNNERS)} runners: --jobs 4 / --jobs 1",
        lambda: bench.claw("pull", "--rebuild", "--jobs", "4"),
        lambda: bench.claw("pull", "--rebuild", "--jobs", "1"),
        runs=3, goal=0.5,
    )  # fmt: skip


def start_up(bench: Bench) -> Figure:
    python = sys.executable
    version = [python, CLAW, "--version"]
    return side_by_side(
        'start-up: claw --version / python -c "import click"',
        lambda: bench.run(version, cwd=ROOT, env=dict(os.environ)),
        lambda: bench.run([python, "-c", "import click"], cwd=ROOT, env=dict(os.environ)),
        runs=31, goal=1.3,
        notes=imports("`claw --version`", version, ROOT, dict(os.environ)),
    )  # fmt: skip


def livecheck(bench: Bench) -> Figure:
    """`claw pull` when nothing moved upstream, over `claw pull` of a new release (its build
    waits BUILD_SECONDS), interleaved; each release is published before its pull, untimed."""

    def release() -> None:
        upstream.publish(bench.engine, LIVE_RUNTIME, "latest", {"usr/local/bin/openclaw": VERSION_SCRIPT})

    bench.claw("pull", LIVE)
    times = []
    for _ in range(5):
        release()
        released = timed(lambda: bench.claw("pull", LIVE))
        unchanged = timed(lambda: bench.claw("pull", LIVE))
        times.append((unchanged, released))
    q1, median, q3 = statistics.quantiles([a / b for a, b in times], n=4, method="inclusive")
    added = statistics.median(a - b for a, b in times)
    baseline = statistics.median(b for _, b in times)
    return Figure(
        "livecheck: pull with nothing new upstream / pull of a new release", median, q1, q3,
        "<= 0.15", median <= 0.15, added, baseline,
    )  # fmt: skip


def livecheck_calls(bench: Bench) -> Figure:
    """Docker calls of a `claw pull` of one runner whose recipe has one FROM image, nothing
    having moved: at most one per FROM image plus one, and no build."""
    bench.claw("pull", LIVE)
    calls = bench.calls(lambda env: bench.claw("pull", LIVE, env=env))
    builds = [call for call in calls if verb(call) == ["build"]]
    kinds = ", ".join(" ".join(verb(call)) for call in calls)
    return Figure(
        f"livecheck: docker calls of an unchanged runner with 1 FROM image ({kinds or 'none'})",
        len(calls), len(calls), len(calls), "<= 2, no build", len(calls) <= 2 and not builds,
    )  # fmt: skip


def two_engines(bench: Bench) -> Figure:
    """The same runner refreshed on two engines at once (`--context a,b`) over on one: the
    second engine is a second dockerd beside the first, sharing its registry."""
    second = harness.add_engine(bench.engine, "bench-second")
    try:
        for name, engine in (("bench-a", bench.engine), ("bench-b", second)):
            output(["docker", "context", "create", name, "--docker", f"host={engine.host}"], ROOT, bench.env)
        bench.claw("--context", "bench-a,bench-b", "pull", LIVE)  # both engines have the base
        return side_by_side(
            "pull --rebuild of one runner on two engines / on one (--context)",
            lambda: bench.claw("--context", "bench-a,bench-b", "pull", "--rebuild", LIVE),
            lambda: bench.claw("--context", "bench-a", "pull", "--rebuild", LIVE),
            runs=5, goal=1.3,
        )  # fmt: skip
    finally:
        harness.stop_engine(second)


def locked_lock(bench: Bench) -> str:
    """A lock of the livecheck rows' runner, written once where no other row reads it
    (``--lock``: the default place beside its Clawfile would make the other rows follow it)."""
    path = bench.work / "bench.lock"
    if not path.exists():
        bench.claw("--lock", str(path), "pull", "--update-lock", LIVE)
    return str(path)


def locked_pull(bench: Bench) -> Figure:
    """`claw pull --locked` on a host whose base already matches the lock, over `claw up
    --check` of a one-service pod: a locked, current host asks no registry and no upstream."""
    lock = locked_lock(bench)
    return side_by_side(
        "pull --locked, base as locked / up --check of a 1-service pod",
        lambda: bench.claw("--lock", lock, "pull", "--locked", LIVE),
        lambda: bench.claw("up", "--check", cwd=bench.work / "pod-1"),
        runs=21, goal=1.5,
    )  # fmt: skip


def locked_calls(bench: Bench) -> Figure:
    """Docker calls of `claw pull --locked` of one runner that matches its lock: the one
    inspect of its bases, nothing asked of a registry."""
    lock = locked_lock(bench)
    calls = bench.calls(lambda env: bench.claw("--lock", lock, "pull", "--locked", LIVE, env=env))
    kinds = ", ".join(" ".join(verb(call)) for call in calls)
    registry = [call for call in calls if verb(call)[:1] in (["pull"], ["manifest"], ["buildx"])]
    return Figure(
        f"pull --locked: docker calls of a runner as locked ({kinds or 'none'})",
        len(calls), len(calls), len(calls), "= 1, no registry", len(calls) == 1 and not registry,
    )  # fmt: skip


def under(toolchain_id: str, measure: Callable[[Bench], Figure]) -> Callable[[Bench], Figure]:
    """``measure`` with every claw and docker command of it on the toolchain ``toolchain_id``
    (its private docker configuration: buildx and compose v2, or neither)."""

    def measured(bench: Bench) -> Figure:
        plugins = (
            toolchains.ensure(ROOT / ".cache" / "toolchains") if toolchain_id == toolchains.BUILDKIT else None
        )
        config = bench.work / f"docker-config-{toolchain_id.replace('+', '-')}"
        bench.toolchain = toolchains.prepare(toolchain_id, config, plugins)
        try:
            figure = measure(bench)
            used = builder(bench)
        finally:
            bench.toolchain = None
        notes = tuple(f"[{toolchain_id}] {note}" for note in figure.notes)
        return replace(figure, name=f"{figure.name} [{toolchain_id}]", notes=notes, builder=used)

    return measured


@dataclass(frozen=True)
class Row:
    name: str  # what --only takes
    measure: Callable[[Bench], Figure]  # the engine starts when a row first touches bench.engine
    engine: bool = True  # whether it does (an engine needs root)


ROWS: list[Row] = [  # a row that counts docker calls runs on a named toolchain: the count is its
    Row("docker-calls", under(toolchains.LEGACY, docker_calls)),
    Row("check-200", check_over_floor),
    Row("verb-start-up", verb_start_up),
    Row("pull", under(toolchains.LEGACY, pull_over_script)),
    Row("pull-buildkit", under(toolchains.BUILDKIT, pull_over_script)),
    Row("jobs", parallel_refresh),
    Row("start-up", start_up, engine=False),
    Row("livecheck", livecheck),
    Row("livecheck-calls", under(toolchains.LEGACY, livecheck_calls)),
    Row("engines", two_engines),
    Row("locked", locked_pull),
    Row("locked-calls", under(toolchains.LEGACY, locked_calls)),
]


def measured(row: Row, bench: Bench) -> Figure:
    """The row's figure and the builder its builds used (a row on no named toolchain: the
    one of the host's docker configuration)."""
    figure = row.measure(bench)
    if row.engine and figure.builder is None:
        figure = replace(figure, builder=builder(bench))
    return figure


# --------------------------------------------------------------------------
# Facts about the run
# --------------------------------------------------------------------------


def imports(what: str, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> list[str]:
    """Which packages outside the standard library ``argv`` imports, and their import time.

    One run of ``python -X importtime``: the cumulative time of each such package, and of
    asyncio, which is standard but large enough to show."""
    result = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output(argv, cwd, env)  # raises CommandFailed, with what went wrong
    seen: dict[str, int] = {}
    total = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not cumulative.isdigit():
            continue  # the header
        if not line.split("|")[2].startswith("   "):  # a top-level import of the process
            total += int(cumulative)
        if "." in name or name.startswith("_") or name in ("lib", "claw"):
            continue  # a submodule, a private module or claw's own
        if importlib.util.find_spec(name) is None:
            continue  # tried and not found (say, `copy` asks for Jython's org.python)
        if name not in sys.stdlib_module_names or name == "asyncio":
            seen[name] = max(seen.get(name, 0), int(cumulative))
    packages = ", ".join(f"{name} {micro / 1000:.0f} ms" for name, micro in sorted(seen.items()))
    among = f"; among them {packages}" if packages else ", none of them outside the standard library"
    return [f"{what}: imports took {total / 1000:.0f} ms in all{among}"]


def builder(bench: Bench) -> str:
    """The builder `docker build` used in this run: BuildKit when buildx answers, else legacy."""
    env = bench.env
    answer = subprocess.run(
        ["docker", "buildx", "version"], env=env, capture_output=True, text=True, check=False
    )
    disabled = env.get("DOCKER_BUILDKIT", "").strip().lower() in {"0", "false"}
    if answer.returncode != 0 or disabled:
        return "legacy builder (DOCKER_BUILDKIT=0)" if disabled else "legacy builder (no buildx)"
    words = answer.stdout.split()
    return f"BuildKit (buildx {words[1]})" if len(words) > 1 else "BuildKit"


def machine(bench: Bench, load: float) -> str:
    facts = [f"{platform.system()} {platform.release()}", f"{os.cpu_count()} CPUs"]
    facts.append(f"Python {platform.python_version()}")
    if bench.started:
        facts.append(f"docker CLI {bench.docker('version', '--format', '{{.Client.Version}}')}")
        facts.append(f"engine {bench.docker('version', '--format', '{{.Server.Version}}')}")
    facts.append(f"1-minute load average before the run {load:.2f}")
    return ", ".join(facts)


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


def compiled() -> None:
    """claw's modules compiled to bytecode before the first row, as installing claw does.
    Under PYTHONDONTWRITEBYTECODE a module edited since its bytecode was cached would be
    compiled again on every run of every row: a cost no installed claw pays, and the
    baselines' packages (installed in the venv) never pay."""
    compileall.compile_dir(ROOT / "lib", quiet=1)


def select(only: Sequence[str]) -> list[Row]:
    names = [row.name for row in ROWS]
    unknown = [name for name in only if name not in names]
    if unknown:
        raise SystemExit(f"bench: no row {', '.join(unknown)} (rows: {', '.join(names)})")
    return [row for row in ROWS if not only or row.name in only]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="Measure claw's own cost.")
    parser.add_argument("--record", type=Path, help="also write the figures to this markdown file")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this row (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    args = parser.parse_args(argv)
    if args.list:
        for row in ROWS:
            say(row.name)
        return 0
    if args.record and args.only:
        parser.error("--record writes every row: leave out --only")
    rows = select(args.only)
    if os.geteuid() != 0 and any(row.engine for row in rows):
        print("bench: the private Docker engine needs root (run as root, or with sudo)", file=sys.stderr)
        return 1
    say("claw bench")
    compiled()
    load = os.getloadavg()[0]
    if load >= (os.cpu_count() or 1):
        say(f"  (a busy machine: load average {load:.2f} on {os.cpu_count()} CPUs; expect noisier ratios)")
    bench = Bench()
    figures: list[Figure] = []
    try:
        for row in rows:
            say(f"measuring: {row.name}")
            figure = measured(row, bench)
            say(f"  {figure.row()}")
            figures.append(figure)
        about = machine(bench, load)
    except harness.EngineUnavailable as error:
        print(f"bench: the private Docker engine did not start: {error}", file=sys.stderr)
        return 1
    except CommandFailed as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        bench.close()
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    say(f"\n{table(figures)}\n\n{facts(figures)}\n{stamp}; {about}; {builders(figures)}")
    if args.record:
        args.record.write_text(record(stamp, about, figures))
        say(f"written: {args.record}")
    over = [f.name for f in figures if not f.ok]
    if over:
        say(f"bench: {len(over)} row(s) OVER GOAL: {'; '.join(over)}")
    return 1 if over else 0


def builders(figures: Sequence[Figure]) -> str:
    """Which builder each row's builds used, for the page's header: the builder of most rows
    named once, each other one with its rows."""
    by: dict[str, list[str]] = {}
    for figure in figures:
        if figure.builder is not None:
            by.setdefault(figure.builder, []).append(figure.name)
    if not by:
        return "no row used the engine"
    (most, _), *others = sorted(by.items(), key=lambda item: -len(item[1]))
    if not others:
        return f"builder: {most} for every row on the engine"
    named = "; ".join(f"{used} for {', '.join(f'`{name}`' for name in names)}" for used, names in others)
    return f"builders: {named}; {most} for the other rows on the engine"


def table(figures: Sequence[Figure]) -> str:
    return "\n".join([TABLE_HEAD, *(f.row() for f in figures)])


def facts(figures: Sequence[Figure]) -> str:
    """The notes of ``figures``, a list item each."""
    return "".join(f"- {note}\n" for f in figures for note in f.notes)


def record(stamp: str, about: str, figures: Sequence[Figure]) -> str:
    """The page ``--record`` writes: the header, the table of ``figures``, their notes."""
    return RECORD.format(
        stamp=stamp, machine=about, builders=builders(figures), table=table(figures), facts=facts(figures),
        sizes=", ".join(map(str, SIZES)), largest=SIZES[-1], seconds=BUILD_SECONDS, runners=len(RUNNERS),
        calls=docker_calls_in(refresh_script(Path("work"))),
    )  # fmt: skip


RECORD = """\
# Performance

Written by `make bench BENCH_ARGS="--record docs/performance.md"` (that is, `python -m
scripts.bench --record docs/performance.md`; without the option the rows are only
printed). Every figure here comes from the one run that wrote this page, on the private
engine. A ratio is the median of per-pair ratios of runs interleaved side by side (the
order alternating from pair to pair), with the interquartile range; "difference" is the
median of the per-pair differences (what claw adds, or for --jobs what it saves), over
the baseline's median time.

Measured {stamp} on {machine}; {builders}. A row or a note marked
`[legacy+v1]` or `[buildkit+v2]` ran on that toolchain (its own docker configuration: the
legacy builder with compose v1, or BuildKit with compose v2); docker calls are counted
on the toolchain named beside them.

{table}

Also measured in this run:

{facts}
Import times come from one run under `python -X importtime` (which slows imports
itself); a package's time includes what it imports in turn. claw's modules are compiled
to bytecode before the first row, as installing claw compiles them.

What the rows mean:

- **docker calls**: `claw up --check` on pods of {sizes} registry services, counted by
  a recording shim in front of the real docker. The goal is that the count does not grow
  with the pod.
- **up --check, {largest} services / the floor**: the whole command (Python start-up,
  reading the config and the pod, the engine check) against the floor: `python -c`
  importing click, sh, PyYAML and tomlkit, reading the same pod with libyaml and making
  one `docker image inspect` of its {largest} refs through sh that prints only their IDs, the
  least any tool on the packages of claw's design pays for that answer. The ratio shows
  what claw's own imports and work cost, not what its language and packages cost (its
  ratio over the bare `docker image inspect`, interpreter start not included, is a note
  above). The goal, 1.15, is for a verb that imports only what it uses.
- **start-up of a verb**: `claw up --check -f POD` on a pod of one service whose image
  is present, which loads the verb's modules, the config and pod readers and the docker
  layer, against the same floor on that pod. The goal, 1.5, allows claw's own part half
  of that floor.
- **pull / shell script**: `claw pull --rebuild` of one runner (a refresh although
  nothing moved upstream, as the script always does) against the same `build --pull
  --no-cache`, inspect, probe, two tags and `rm` typed into a shell script ({calls} docker
  calls). claw fetches the FROM image with `docker pull` (livecheck's question) and
  builds from it without `--pull`; both sides label the image. The recipe's build waits
  {seconds} seconds, a stand-in for a real recipe's downloads; the longer the build, the
  smaller the share of what claw adds.
- **--jobs**: `claw pull --rebuild` of {runners} runners whose builds wait {seconds} seconds
  each, refreshed in parallel against one at a time.
- **start-up**: `python claw.py --version` against `python -c "import click"`.
- **two engines**: `claw --context a,b pull --rebuild` of one runner whose build waits
  {seconds} seconds, on the private engine and a second dockerd beside it (both on this
  machine, sharing its registry), against `--context a` alone. The refresh on each
  engine takes its host lock and its engine lock (a `docker create` and a `docker rm`).

A row over its goal reads OVER GOAL, and the bench then exits 1.
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
