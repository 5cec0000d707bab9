"""`make demo`: the claw cycle on this machine, with nothing from the internet.

A private Docker engine and a registry that plays "upstream" are started in
namespaces of their own; a tiny runtime image is published there; then the
operator's cycle runs, each command printed before it runs:

    claw pull -> claw build -> claw up -d -> claw pull (up to date) -> claw pull --check
    -> (upstream release) -> claw pull --check (behind) -> claw pull -> claw up -d
    (drift hint) -> claw build -> claw up -d -> claw pull --rollback -> claw up -d
    -> claw pull --check -> claw down -> (a second engine joins) -> claw --context
    host-a,host-b pull -> claw --context host-a,host-b build -> claw pull --update-lock
    -> (claw.lock shown) -> (upstream release) -> claw pull (the lock holds) -> claw pull
    --update-lock=openclaw -> claw --context host-a,host-b pull --locked

Everything is torn down at the end, also when a step fails.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness import engine as harness
from tests.harness import upstream

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "offline"
FIRST, SECOND, THIRD = "2026.5.22", "2026.5.24", "2026.5.26"  # the upstream releases
SLEEP = '["sleep", "3600"]'  # what the demo's containers run
RELEASE = None  # the step of the cycle where upstream publishes a new release
ENGINES = ["<a second engine>"]  # the step where a second engine joins, as docker context host-b
LOCK = ["<the lock>"]  # the step that shows claw.lock
RELEASE_AGAIN = ["<another release>"]  # upstream moves while the lock holds
BOTH = ["--context", "host-a,host-b"]
CYCLE: list[tuple[list[str] | None, str]] = [
    (["pull"], "refresh the runner base from upstream, pull pinned infra"),
    (["build"], "build the pod's service images against the runner's version tag"),
    (["up", "-d"], "check readiness and start the pod"),
    (["pull"], "pull again: nothing moved upstream, so nothing is built"),
    (["pull", "--check"], "ask what a pull would change (exit 0: nothing)"),
    (RELEASE, "upstream publishes a new runtime release"),
    (["pull", "--check"], "ask again (exit 3: a pull would change something; nothing downloaded)"),
    (["pull"], f"refresh: claw rebuilds openclaw from {SECOND}, says what moved and what it replaces"),
    (["up", "-d"], "the drift hint names the service and both versions; the pod keeps running"),
    (["build"], "rebuild against the new version"),
    (["up", "-d"], "start again: no hint"),
    (["pull", "--rollback", "openclaw"], f"{SECOND} misbehaves: go back one version with one docker tag"),
    (["up", "-d"], "the drift hint again: the service is on the newer base, latest on the older"),
    (["pull", "--check"], "each runner's versions on the host: which is latest, which services use each"),
    (["down"], "stop and remove the pod"),
    (ENGINES, "a second engine joins (a build host, say): docker contexts host-a and host-b"),
    ([*BOTH, "pull"], "both engines at once: host-a takes the release again, host-b installs its first"),
    ([*BOTH, "build"], "build on both: each engine's FROM names its own runner version"),
    (["pull", "--update-lock"], "lock the pod on host-a: claw.lock records what its bases and images are"),
    (LOCK, "claw.lock, beside the pod: commit it; CI and deploy run `claw pull --locked`"),
    (RELEASE_AGAIN, "upstream publishes another release"),
    (["pull"], "with a lock, pull keeps the locked base and says what upstream has beyond it"),
    (["pull", "--update-lock=openclaw"], "move the lock for openclaw only: the web image's entry stays"),
    ([*BOTH, "pull", "--locked"], "both engines build exactly the lock's inputs (host-b builds them)"),
]


def release(engine: harness.Engine, version: str) -> str:
    """Publish an "upstream" runtime whose `openclaw --version` prints ``version``."""
    script = f"#!/bin/sh\necho 'OpenClaw {version} (3f2a9c1)'\n"
    return upstream.publish(engine, "openclaw-runtime", "latest", {"usr/local/bin/openclaw": script})


def workspace(engine: harness.Engine) -> Path:
    """examples/offline, with the private registry filled in, in a temporary directory."""
    upstream.publish(engine, "cllama", "v0.4.1", cmd=SLEEP)
    upstream.publish(engine, "web", "1", cmd=SLEEP)
    work = Path(tempfile.mkdtemp(prefix="claw-demo-"))
    shutil.copytree(EXAMPLE, work, dirs_exist_ok=True)
    for path in work.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace("{registry}", engine.registry))
    return work


def say(text: str) -> None:
    print(text, flush=True)


def claw(engine: harness.Engine, env: dict[str, str], work: Path, args: list[str]) -> None:
    """Run claw inside the engine's network namespace, where the registry playing upstream
    listens (``pull --check`` asks it from the docker CLI). `pull --check` may say 3."""
    argv = engine.nsenter(sys.executable, str(ROOT / "claw.py"), *args)
    say(f"\n$ claw {shlex.join(args)}")
    code = subprocess.run(argv, env=env, cwd=work, check=False).returncode
    if code != 0 and not (code == 3 and "--check" in args):
        raise subprocess.CalledProcessError(code, ["claw", *args])
    if "--check" in args:
        say(f"(exit {code})")


def main() -> int:
    if os.geteuid() != 0:  # checked first, so that this is all a user without root sees
        print("claw demo: the private Docker engine needs root (run as root, or with sudo)", file=sys.stderr)
        return 1
    say("claw demo: starting a private Docker engine and an 'upstream' registry ...")
    try:
        engine = harness.start()
    except harness.EngineUnavailable as error:
        print(f"claw demo: the private Docker engine did not start: {error}", file=sys.stderr)
        return 1
    work = None
    try:
        work = workspace(engine)
        env = {**os.environ, **engine.env, "CLAW_CONFIG": str(work / "claw.toml")}
        env["XDG_STATE_HOME"] = str(work / "state")
        say(f"  engine:   {engine.host}")
        say(f"  registry: {engine.registry} (plays upstream)")
        say(f"  pod:      {work / 'claw-pod.yml'}")
        say(f"  published {release(engine, FIRST)} (OpenClaw {FIRST})")
        claw(engine, env, work, ["--version"])
        for args, why in CYCLE:
            if args is RELEASE:
                say(f"\n# {why}: published OpenClaw {SECOND} as {release(engine, SECOND)}")
            elif args is RELEASE_AGAIN:
                say(f"\n# {why}: published OpenClaw {THIRD} as {release(engine, THIRD)}")
            elif args is LOCK:
                say(f"\n# {why}\n")
                say((work / "claw.lock").read_text().rstrip())
            elif args is ENGINES:
                second = harness.add_engine(engine, "host-b")
                for name, host in (("host-a", engine.host), ("host-b", second.host)):
                    subprocess.run(["docker", "context", "create", name, "--docker", f"host={host}"],
                                   env=env, check=True, capture_output=True)  # fmt: skip
                say(f"\n# {why}\n  host-b:   {second.host}")
            else:
                say(f"\n# {why}")
                claw(engine, env, work, args)
        return 0
    finally:
        say("\nclaw demo: stopping the private engine and registry")
        harness.stop(engine.root)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
