"""Record real docker output into fixtures/docker/ for the unit tests.

    python -m tests.harness.record

Starts the private engine, makes two tiny images, and saves what the docker
CLI prints for the calls lib/engine/docker.py parses. Re-run after a docker upgrade.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.harness import engine as harness
from tests.harness import upstream

OUT = Path(__file__).resolve().parents[2] / "fixtures" / "docker"


def capture(env: dict[str, str], *argv: str) -> dict[str, object]:
    done = subprocess.run(["docker", *argv], capture_output=True, text=True, env=env, check=False)
    return {"argv": ["docker", *argv], "code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def main() -> None:
    engine = harness.start()
    try:
        env = {**os.environ, **engine.env}
        upstream.make_image(engine, "claw-fixture/one:1")
        upstream.make_image(engine, "claw-fixture/two:2", {"etc/motd": "two\n"})
        subprocess.run(
            ["docker", "tag", "claw-fixture/two:2", "claw-fixture/two:latest"], env=env, check=True
        )
        for tag in (
            "claw-fixture/two:v1.2.0",
            "claw-fixture/two:claw-refresh-77-1",
            "claw-fixture/one:built-x",
        ):
            subprocess.run(["docker", "tag", "claw-fixture/two:2", tag], env=env, check=True)
        subprocess.run(
            ["docker", "create", "--name", "claw-probe-fixture", "--label", "claw.probe=claw-fixture/two",
             "claw-fixture/two:2", "true"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        recordings = {
            "inspect-two-found-one-missing": capture(
                env,
                "image",
                "inspect",
                "--format",
                "{{json .}}",
                "claw-fixture/one:1",
                "nope:1",
                "claw-fixture/two:2",
            ),
            "inspect-all-missing": capture(
                env, "image", "inspect", "--format", "{{json .}}", "nope", "nope:1"
            ),
            "version": capture(env, "version", "--format", "{{json .}}"),
            "image-ls-references": capture(
                env,
                "image",
                "ls",
                "--no-trunc",
                "--format",
                "{{json .}}",
                "--filter",
                "reference=claw-fixture/two",
                "--filter",
                "reference=claw-fixture/one:built-*",
            ),
            "container-ls-labelled": capture(
                env,
                "container",
                "ls",
                "--all",
                "--filter",
                "label=claw.probe=claw-fixture/two",
                "--format",
                "{{.Names}}",
            ),
            "pull-manifest-unknown": capture(env, "pull", f"{engine.registry}/upstream/none:404"),
            "pull-connection-refused": capture(env, "pull", "127.0.0.1:9/upstream/none:1"),
            "run-missing-executable": capture(
                env,
                "run",
                "--rm",
                "--network",
                "none",
                "--pull",
                "never",
                "--entrypoint",
                "nope",
                "claw-fixture/one:1",
            ),
        }
        env_dead = {**env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
        recordings["version-engine-unreachable"] = capture(env_dead, "version", "--format", "{{json .}}")
        OUT.mkdir(parents=True, exist_ok=True)
        for name, data in recordings.items():
            (OUT / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
            print(f"recorded {name}: exit {data['code']}")
    finally:
        harness.stop(engine.root)


if __name__ == "__main__":
    main()
