"""The built-in recipes as upstream builds them (SPEC §3), where that can be tried offline.

The openclaw base's entrypoint is written by its recipe's own RUN instruction, copied
verbatim into a busybox image with stand-ins for `openclaw` and `tini`, and run.
"""

from __future__ import annotations

import itertools

import pytest

from lib import runners
from tests.harness import upstream
from tests.harness.engine import Engine

pytestmark = pytest.mark.integration

_numbers = itertools.count(1)

# `openclaw gateway` says how it was started and which memory links it sees. Then it
# waits until the entrypoint waits for it (its shell asleep in `wait`): by then the
# entrypoint has started the greeting, if it greets at all. When it did (a second child
# of the entrypoint), the gateway stays up until the greeting is sent; otherwise it ends.
# No clock decides either way. `openclaw health` is healthy; `openclaw message` says what
# it sends. tini runs what follows `--`.
OPENCLAW = """\
#!/bin/sh
case "$1" in
  gateway)
    echo "openclaw $*"
    for name in MEMORY.md memory.md; do
      [ -L "/claw/$name" ] && echo "link /claw/$name -> $(readlink "/claw/$name")"
    done
    until [ "$(cut -d ' ' -f 3 "/proc/$PPID/stat")" = S ]; do sleep 0.01; done
    if [ "$(wc -w < "/proc/$PPID/task/$PPID/children")" -gt 1 ]; then
      until [ -e /tmp/greeted ]; do sleep 0.01; done
    fi
    ;;
  health) exit 0 ;;
  message) echo "openclaw $*"; touch /tmp/greeted ;;
esac
"""
TINI = '#!/bin/sh\n[ "$1" = "--" ] && shift\nexec "$@"\n'
CONFIGURE = "#!/bin/sh\necho configured\n"


def entrypoint_steps() -> tuple[str, str]:
    """The recipe's instruction that writes the entrypoint, and its ENTRYPOINT, verbatim."""
    recipe = runners.builtin()["openclaw"].recipe
    start = recipe.index("RUN printf")
    end = recipe.index("\n", recipe.index("chmod 0755 /usr/local/bin/openclaw-entrypoint.sh"))
    entrypoint = next(line for line in recipe.splitlines() if line.startswith("ENTRYPOINT "))
    return recipe[start:end], entrypoint


@pytest.fixture(scope="module")
def images(engine: Engine) -> dict[str, str]:
    """Two images: /claw/configure.sh executable, and not."""
    n = next(_numbers)
    base = f"recipe-entrypoint-base:{n}"
    upstream.make_image(
        engine, base,
        {"usr/local/bin/openclaw": OPENCLAW, "usr/bin/tini": TINI, "claw/configure.sh": CONFIGURE},
    )  # fmt: skip
    write, entrypoint = entrypoint_steps()
    made = {}
    for name, extra in (("executable", "RUN chmod 0755 /claw/configure.sh\n"), ("plain", "")):
        ref = f"recipe-entrypoint-{name}:{n}"
        dockerfile = f"FROM {base}\n{write}\n{extra}{entrypoint}\n"
        upstream.docker(engine, "build", "--quiet", "--tag", ref, "-", stdin=dockerfile.encode())
        made[name] = ref
    return made


def run(engine: Engine, image: str, **env: str) -> list[str]:
    flags = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    return upstream.docker(engine, "run", "--rm", *flags, image).splitlines()


def test_the_entrypoint_starts_the_gateway_on_loopback_under_tini(
    engine: Engine, images: dict[str, str]
) -> None:
    assert run(engine, images["plain"]) == ["openclaw gateway --port 18789 --bind loopback"]


def test_the_entrypoint_configures_links_memory_and_greets(engine: Engine, images: dict[str, str]) -> None:
    said = run(
        engine, images["executable"],
        CLAW_MEMORY_DIR="/data/memory", CLAW_GREETING_CHANNEL="1234", CLAW_GREETING_MESSAGE="hello there",
    )  # fmt: skip
    assert said[0] == "configured"  # the hook runs first
    gateway = [line for line in said[1:] if not line.startswith("openclaw message")]  # the two run at once
    assert gateway == [
        "openclaw gateway --port 18789 --bind loopback",
        "link /claw/MEMORY.md -> /data/memory/MEMORY.md",
        "link /claw/memory.md -> /data/memory/MEMORY.md",
    ]
    greeting = [line for line in said if line.startswith("openclaw message")]
    assert greeting == ["openclaw message send --channel discord --target 1234 --message hello there"]


@pytest.mark.parametrize("env", [{"CLAW_GREETING_CHANNEL": "1234"}, {"CLAW_GREETING_MESSAGE": "hi"}])
def test_no_greeting_unless_both_variables_are_set(
    engine: Engine, images: dict[str, str], env: dict[str, str]
) -> None:
    assert run(engine, images["executable"], **env) == [
        "configured",
        "openclaw gateway --port 18789 --bind loopback",
    ]
