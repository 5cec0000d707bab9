"""`make demo`: the claw cycle on this machine, with nothing from the internet.

A private Docker engine and a registry that plays "upstream" are started in
namespaces of their own; a tiny runtime image is published there; then the
operator's cycle runs, each command printed before it runs:

    claw pull -> claw build -> claw up -d -> (upstream release) -> claw pull
    -> claw up (drift hint) -> claw build -> claw up -d -> claw down

The cycle grows with the verbs: a step whose verb has not landed yet is shown
and marked as still to come, never faked. Everything is torn down at the end.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.harness import engine as harness
from tests.harness import upstream

ROOT = Path(__file__).resolve().parent.parent
FIRST, SECOND = "2026.5.22", "2026.5.24"  # the two upstream releases
AVAILABLE: set[str] = set()  # verbs that have landed; the demo runs exactly these
CYCLE = [
    ("pull", ["pull"], "refresh the runner base from upstream, pull pinned infra"),
    ("build", ["build"], "build the pod's service images against the runner's version tag"),
    ("up", ["up", "-d"], "check readiness and start the pod"),
    (None, [], "upstream publishes a new runtime release"),
    ("pull", ["pull"], "refresh again: installed vNEW (was vOLD)"),
    ("up", ["up", "--check"], "the drift hint names the service and both versions"),
    ("build", ["build"], "rebuild against the new version"),
    ("up", ["up", "-d"], "start again: no hint"),
    ("down", ["down"], "stop and remove the pod"),
]


def release(engine: harness.Engine, version: str) -> str:
    """Publish an "upstream" runtime whose `openclaw --version` prints ``version``."""
    script = f"#!/bin/sh\necho 'OpenClaw {version} (3f2a9c1)'\n"
    return upstream.publish(engine, "openclaw-runtime", version, {"usr/local/bin/openclaw": script})


def say(text: str) -> None:
    print(text, flush=True)


def claw(env: dict[str, str], args: list[str]) -> None:
    argv = [sys.executable, str(ROOT / "claw.py"), *args]
    say(f"\n$ claw {shlex.join(args)}")
    subprocess.run(argv, env=env, check=True)


def main() -> int:
    say("claw demo: starting a private Docker engine and an 'upstream' registry ...")
    engine = harness.start()
    try:
        env = {**os.environ, **engine.env}
        say(f"  engine:   {engine.host}")
        say(f"  registry: {engine.registry} (plays upstream)")
        say(f"  published {release(engine, FIRST)}")
        claw(env, ["--version"])
        for verb, args, why in CYCLE:
            if verb is None:
                say(f"\n# {why}: published {release(engine, SECOND)}")
            elif verb in AVAILABLE:
                say(f"\n# {why}")
                claw(env, args)
            else:
                say(f"\n# still to come: claw {shlex.join(args)}  ({why})")
        pending = sorted({verb for verb, _, _ in CYCLE if verb and verb not in AVAILABLE})
        if pending:
            say(f"\nNot implemented yet: {', '.join(f'claw {v}' for v in pending)}. "
                "This demo runs each verb as soon as it lands.")  # fmt: skip
        return 0
    finally:
        say("\nclaw demo: stopping the private engine and registry")
        harness.stop(engine.root)


if __name__ == "__main__":
    sys.exit(main())
