"""The lab for `claw` verbs on the private engine: a runner with its own alias,
an "upstream" runtime in the private registry, a config file, and the CLI.

Every test gets fresh names, so tests never see each other's images.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lib import runners
from tests.harness import engine as harness
from tests.harness import flaky, shim, standins, toolchains, upstream, waiting
from tests.harness.engine import Engine
from tests.harness.standins import Held, StandIns

ROOT = Path(__file__).resolve().parents[2]
_numbers = itertools.count(1)


def version_script(version: str) -> str:
    return f"#!/bin/sh\necho 'OpenClaw {version} (3f2a9c1)'\n"


@dataclass
class Lab:
    engine: Engine
    dir: Path
    alias: str
    runtime: str  # upstream repository name in the private registry
    registry: str  # host:port the recipe pulls from (the registry, or a proxy in front of it)
    env: dict[str, str] = field(default_factory=dict)
    probe_timeout: int = 30
    keep: int = 3
    extra_config: str = ""
    upstream: str = "[]"  # the runner's upstreams (TOML): none but the FROM image by default
    inside: bool = False  # run claw inside the engine's network namespace (stand-ins, registry)
    pin: str | None = None  # [runners.openclaw] pin
    toolchain: toolchains.Toolchain | None = None  # None: the host's docker configuration

    @property
    def runtime_ref(self) -> str:
        """The recipe's FROM image, as livecheck names it in its lines."""
        return f"{self.registry}/upstream/{self.runtime}:latest"

    @property
    def pod(self) -> str:
        """The name of the lab's pod (its compose project)."""
        return f"lab-{self.alias}"

    @property
    def config(self) -> Path:
        return self.dir / "claw.toml"

    @property
    def recipe(self) -> Path:
        return self.dir / "openclaw.Dockerfile"

    @property
    def clawfile(self) -> Path:
        return self.dir / "Clawfile"

    def release(self, version: str | None = None, *, script: str | None = None) -> str:
        """Publish a new upstream runtime whose `openclaw --version` prints ``version``."""
        text = script if script is not None else version_script(version or "0.0.0")
        return upstream.publish(self.engine, self.runtime, "latest", {"usr/local/bin/openclaw": text})

    def write(self, recipe_extra: str = "") -> None:
        self.recipe.write_text(f"FROM {self.runtime_ref}\n{recipe_extra}")
        self.config.write_text(
            f'[runners.openclaw]\nalias = "{self.alias}"\nrecipe = "{self.recipe.name}"\n'
            f"probe_timeout = {self.probe_timeout}\nupstream = {self.upstream}\n"
            + (f'pin = "{self.pin}"\n' if self.pin else "")
            + "\n"
            f"[pull]\nkeep = {self.keep}\n{self.extra_config}"
        )
        self.clawfile.write_text(f"FROM {self.alias}\nCLAW_TYPE openclaw\n")

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ, **self.engine.env, **self.env,
            "CLAW_CONFIG": str(self.config), "XDG_STATE_HOME": str(self.dir / "state"),
        }  # fmt: skip
        return self.toolchain.env(env) if self.toolchain else env

    def argv(self, *args: str) -> list[str]:
        command = [sys.executable, str(ROOT / "claw.py"), *args]
        return self.engine.nsenter(*command) if self.inside else command

    def claw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            cwd=self.dir, env=self.environment(), capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    def spawn(self, *args: str, name: str) -> Running:
        """Start claw in the background; its output goes to files under the lab."""
        out, err = self.dir / f"{name}.out", self.dir / f"{name}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                self.argv(*args),
                cwd=self.dir, env=self.environment(), stdout=stdout, stderr=stderr, text=True,
                start_new_session=True,  # its own process group, as a service manager would run it
            )  # fmt: skip
        return Running(process, out, err)

    def docker(self, *argv: str) -> str:
        return upstream.docker(self.engine, *argv)

    def tags(self, repository: str | None = None) -> dict[str, str]:
        """tag -> full image ID, for every tag of the alias (or ``repository``)."""
        out = self.docker(
            "image", "ls", "--no-trunc", "--format", "{{.Tag}} {{.ID}}", repository or self.alias
        )
        return dict(line.split() for line in out.splitlines() if line.strip())

    def labels(self, ref: str) -> dict[str, str]:
        return json.loads(self.docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref)) or {}

    def exists(self, ref: str) -> bool:
        try:
            self.docker("image", "inspect", ref)
        except RuntimeError:
            return False
        return True

    def refreshed_ago(self, started: float, ended: float, ref: str | None = None) -> list[str]:
        """What ``refreshed ... ago`` may say of ``ref`` (the alias's latest) in a run
        between ``started`` and ``ended`` (``time.time()``): the age, in whole minutes, from
        its ``claw.base.refreshed-at`` label to each moment of the run."""
        stamp = self.labels(ref or f"{self.alias}:latest")[runners.BASE_REFRESHED_AT]
        at = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        first, last = (max(int((moment - at.timestamp()) // 60), 0) for moment in (started, ended))
        return [f"refreshed {minutes}m ago" for minutes in range(first, last + 1)]

    def probe_containers(self) -> list[str]:
        return self.docker("container", "ls", "--all", "--filter", f"label=claw.probe={self.alias}",
                           "--format", "{{.Names}}").split()  # fmt: skip

    def with_shim(self, **settings: str) -> None:
        """Route claw's docker calls through the recording/fault shim."""
        directory = shim.install(self.dir / "shim")
        self.env["PATH"] = f"{directory}{os.pathsep}{os.environ['PATH']}"
        self.env["CLAW_SHIM_LOG"] = str(self.dir / "docker-calls.log")
        self.env.update(settings)

    def hold(self, pattern: str, *, after: bool = False) -> shim.Hold:
        """Hold claw's docker calls matching ``pattern`` (a shell pattern of the argv)
        until the test releases them: before docker runs, or ``after`` it has."""
        held = shim.Hold(self.dir / f"hold-{next(_numbers)}", pattern, after)
        self.with_shim(**held.env())
        return held

    def calls(self) -> list[str]:
        log = self.dir / "docker-calls.log"
        return log.read_text().splitlines() if log.exists() else []


@dataclass
class Running:
    process: subprocess.Popen[str]
    out: Path
    err: Path

    def wait(self) -> int:
        return self.process.wait(timeout=300)

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def output(self) -> str:
        """Both streams, for a failing assertion."""
        return f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr()}"

    def wait_for(self, condition: Callable[[], object], what: str) -> None:
        """Until ``condition`` holds; fails with claw's output if claw ends first."""
        waiting.wait_for(condition, describe=lambda: f"{what}; {self.output()}", alive=self.process)

    def says(self, text: str) -> None:
        """Until claw's stderr (its progress lines) contains ``text``."""
        self.wait_for(lambda: text in self.stderr(), repr(text))


@dataclass
class Gates:
    """Build steps that wait for the test. ``step(engine, name)`` is a RUN instruction
    that fetches ``/gate/<name>`` from stand-ins in the engine's namespace (at the address
    of the engine's bridge, which the builds of engines added next to it reach as well),
    so a build is in that step for as long as the test holds the gate (``hold(name)``);
    the hold's marker says the step has begun."""

    world: StandIns

    def hold(self, name: str) -> Held:
        return self.world.hold(f"gate:{name}")

    def step(self, engine: Engine, name: str) -> str:
        bridge = upstream.docker(
            engine,
            "network",
            "inspect",
            "bridge",
            "--format",
            '{{index .Options "com.docker.network.bridge.name"}}',
        )
        shown = subprocess.run(
            engine.nsenter("ip", "-json", "-4", "addr", "show", "dev", bridge),
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        gateway = json.loads(shown.stdout)[0]["addr_info"][0]["local"]
        port = self.world.url.rsplit(":", 1)[1]
        return f"RUN wget -q -O /dev/null http://{gateway}:{port}/gate/{name}\n"


def new_lab(engine: Engine, directory: Path) -> Lab:
    """A lab with names no other lab uses, its files written in ``directory``."""
    n = next(_numbers)
    made = Lab(engine, directory, alias=f"openclaw-t{n}", runtime=f"runtime-t{n}", registry=engine.registry)
    made.write()
    return made


@pytest.fixture(scope="module")
def second(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A second private engine beside the first, sharing its registry: one per test module,
    named after it."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    try:
        added = harness.add_engine(engine, f"second-{name}")
    except harness.EngineUnavailable as exc:
        pytest.fail(f"a second engine must start next to the first: {exc}")
    yield added
    harness.stop_engine(added)


@pytest.fixture
def lab(engine: Engine, tmp_path: Path) -> Lab:
    return new_lab(engine, tmp_path)


def start_gates(engine: Engine, directory: Path) -> Gates:
    """Gates for builds on ``engine`` (and the engines added next to it)."""
    return Gates(standins.start(engine.nsenter(), directory, host="0.0.0.0"))


@pytest.fixture
def gates(lab: Lab) -> Iterator[Gates]:
    made = start_gates(lab.engine, lab.dir / "gates")
    yield made
    made.world.stop()


@pytest.fixture
def proxied(lab: Lab) -> Iterator[Callable[[list[str]], flaky.Flaky]]:
    """Start a flaky proxy with a fault plan; the lab's recipe pulls through it."""
    started: list[flaky.Flaky] = []

    def start(faults: list[str]) -> flaky.Flaky:
        proxy = flaky.start(lab.engine.nsenter(), lab.engine.registry, faults, lab.dir)
        started.append(proxy)
        lab.registry = proxy.address
        lab.write()
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def plugins() -> Path:
    """The buildx and compose v2 plugins, fetched once into the repository's cache."""
    try:
        return toolchains.ensure(ROOT / ".cache" / "toolchains")
    except toolchains.ToolchainUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(
                f"the {toolchains.BUILDKIT} toolchain must run in CI, but its plugins are unavailable: {exc}"
            )
        pytest.skip(f"{toolchains.BUILDKIT} plugins unavailable: {exc}")


@pytest.fixture(scope="module", params=toolchains.IDS)
def toolchain(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, engine: Engine
) -> toolchains.Toolchain:
    """Each test that takes it runs once per toolchain: legacy+v1 and buildkit+v2."""
    folder = request.getfixturevalue("plugins") if request.param == toolchains.BUILDKIT else None
    config = tmp_path_factory.mktemp(request.param.replace("+", "-")) / "docker-config"
    made = toolchains.prepare(request.param, config, folder)
    print(f"{made.id}:\n{made.describe({**os.environ, **engine.env})}")
    return made
