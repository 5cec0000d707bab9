"""The only module that runs docker and compose.

Everything else calls the typed verbs below. Commands go through ``sh`` as argv
lists, never through a shell. Two call shapes: capture (text to parse) and
stream (``on_line`` sees every line as docker prints it, and the text is still
kept for error classification). Every failure becomes a ``DockerError``
subclass chosen by one table (``lib.classify``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.classify import RetryNotice, classify, retrying
from lib.errors import (
    ClawError,
    DockerError,
    DockerMissing,
    DockerTimeout,
    Interrupted,
    NoSuchImage,
    PermanentError,
)

if TYPE_CHECKING:
    import sh
    import tenacity

LineSink = Callable[[str], None]
QUICK_TIMEOUT = 120.0
"""Seconds for calls that should answer at once (version, inspect, tag, rm)."""

INSTALL_HINT = (
    "install the Docker CLI (Debian: `apt-get install docker.io`; "
    "elsewhere: https://docs.docker.com/engine/install/) and make sure `docker` is on PATH"
)


@dataclass
class Settings:
    """Process-wide knobs, set once by the CLI (and by tests)."""

    echo: LineSink | None = None  # -v: receives "$ docker ..." before each command
    retry_wait: tenacity.wait.wait_base | None = None  # None = exponential backoff with jitter


settings = Settings()


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


# --------------------------------------------------------------------------
# Running commands
# --------------------------------------------------------------------------

_running: dict[int, sh.RunningCommand] = {}
_running_lock = threading.Lock()
_stopping = threading.Event()


@cache
def _program(name: str) -> sh.Command:
    import sh

    try:
        return sh.Command(name)
    except sh.CommandNotFound:
        raise DockerMissing(f"`{name}` was not found on PATH", hint=INSTALL_HINT) from None


def run(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    on_line: LineSink | None = None,
    timeout: float | None = None,
    ok_codes: Sequence[int] = (0,),
    stoppable: bool = False,
) -> Result:
    """Run ``argv`` (``argv[0]`` is ``docker`` or ``docker-compose``).

    Raises a ``DockerError`` subclass (see ``classify``) for an exit code not in
    ``ok_codes``, ``DockerTimeout`` past ``timeout``, ``DockerMissing`` when the
    program is not on PATH. Once claw is stopping (``terminate_all``), a
    ``stoppable`` command (long work: build, pull, probe) is not started at
    all; quick ones still run, so cleanup can finish.
    """
    import sh

    argv = tuple(argv)
    if stoppable and _stopping.is_set():
        raise Interrupted()
    if settings.echo is not None:
        settings.echo(f"$ {shlex.join(argv)}")
    options: dict[str, Any] = {"_in": stdin}
    if on_line is not None:
        sink = _safe_sink(on_line)
        options.update(_out=sink, _err=sink, _tee={"out", "err"})  # tee: keep both for errors
    proc = _program(argv[0])(
        *argv[1:],
        _bg=True,
        _bg_exc=False,
        _return_cmd=True,
        _tty_out=False,
        _ok_code=list(ok_codes),
        **options,
    )
    with _running_lock:
        _running[id(proc)] = proc
    if stoppable and _stopping.is_set():  # terminate_all ran while this one started
        _stop(proc)
    expired = threading.Event()
    timer = _deadline(proc, timeout, expired)
    try:
        proc.wait()
    except sh.SignalException as exc:
        if expired.is_set():
            raise DockerTimeout(argv, timeout or 0, _text(exc.stdout), _text(exc.stderr)) from None
        if _stopping.is_set():  # claw stopped it: Ctrl-C or SIGTERM
            raise Interrupted() from None
        raise PermanentError(argv, exc.exit_code, _text(exc.stdout), _text(exc.stderr)) from None
    except sh.ErrorReturnCode as exc:
        raise classify(argv, exc.exit_code, _text(exc.stdout), _text(exc.stderr)) from None
    except BaseException:
        _stop(proc)
        raise
    finally:
        if timer is not None:
            timer.cancel()
        with _running_lock:
            _running.pop(id(proc), None)
    return Result(argv, proc.exit_code or 0, _text(proc.stdout), _text(proc.stderr))


def _deadline(
    proc: sh.RunningCommand, seconds: float | None, expired: threading.Event
) -> threading.Timer | None:
    """Kill ``proc`` after ``seconds``. sh's own ``_timeout`` polls every 0.1 s, which
    added 0.1 s to every quick docker call; a timer costs nothing until it fires."""
    if seconds is None:
        return None

    def expire() -> None:
        expired.set()
        with contextlib.suppress(Exception):  # already gone is fine
            proc.kill()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


def terminate_all() -> None:
    """Stop every docker child still running (Ctrl-C, SIGTERM)."""
    _stopping.set()
    with _running_lock:
        procs = list(_running.values())
    for proc in procs:
        _stop(proc)


def _stop(proc: sh.RunningCommand) -> None:
    with contextlib.suppress(Exception):  # already gone is fine
        proc.terminate()


def _safe_sink(sink: LineSink) -> Callable[[str], None]:
    # sh swallows exceptions raised in callbacks (in a background thread); a
    # broken sink must never hide docker's output or its exit status.
    def call(line: str) -> None:
        with contextlib.suppress(Exception):
            sink(line.rstrip("\n"))

    return call


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    client_version: str
    server_version: str
    api_version: str


def check_engine() -> Engine:
    """One cheap call that proves the engine answers (raises EngineUnreachable)."""
    result = run(("docker", "version", "--format", "{{json .}}"), timeout=QUICK_TIMEOUT)
    data = _json_line(result.stdout)
    server = data.get("Server") or {}
    client = data.get("Client") or {}
    return Engine(
        client_version=str(client.get("Version", "")),
        server_version=str(server.get("Version", "")),
        api_version=str(server.get("ApiVersion", "")),
    )


def _json_line(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text.strip().splitlines()[0]) if text.strip() else {}
    except json.JSONDecodeError:
        value = {}
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    id: str
    repo_tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()

    @classmethod
    def from_inspect(cls, data: dict[str, Any]) -> Image:
        labels = (data.get("Config") or {}).get("Labels") or {}
        return cls(
            id=str(data["Id"]),
            repo_tags=tuple(str(t) for t in data.get("RepoTags") or ()),
            labels={str(k): str(v) for k, v in labels.items()},
            layers=tuple(str(x) for x in (data.get("RootFS") or {}).get("Layers") or ()),
        )


def inspect_images(refs: Iterable[str]) -> dict[str, Image]:
    """Inspect many refs with ONE docker call. Missing refs are absent from the result.

    ``docker image inspect a missing b`` exits 1 but still prints ``a`` and
    ``b`` in order; stderr names the missing ones.
    """
    wanted = list(dict.fromkeys(refs))
    if not wanted:
        return {}
    argv = ("docker", "image", "inspect", "--format", "{{json .}}", *wanted)
    result = run(argv, ok_codes=(0, 1), timeout=QUICK_TIMEOUT)
    missing = set()
    if result.exit_code != 0:
        for line in result.stderr.splitlines():
            if not line.strip():
                continue
            ref = _missing_ref(line, wanted)
            if ref is None:
                raise classify(argv, result.exit_code, result.stdout, result.stderr)
            missing.add(ref)
    found = [ref for ref in wanted if ref not in missing]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if len(lines) != len(found):
        raise PermanentError(
            argv, result.exit_code, result.stdout, result.stderr + "\nunexpected inspect output"
        )
    return {ref: Image.from_inspect(json.loads(line)) for ref, line in zip(found, lines, strict=True)}


def _missing_ref(line: str, wanted: Sequence[str]) -> str | None:
    lowered = line.lower()
    marker = "no such image: "
    at = lowered.find(marker)
    if at < 0:
        return None
    rest = line[at + len(marker) :]
    for ref in sorted(wanted, key=len, reverse=True):
        if rest.lower().startswith(ref.lower()):
            after = rest[len(ref) :]
            if after.startswith(": ") or not after.strip():
                return ref
    return None


@dataclass(frozen=True)
class Listed:
    """One row of ``docker image ls``: a tag and the full ID it names."""

    repository: str
    tag: str
    id: str
    created: str  # "2026-11-24 00:08:40 +0000 UTC": sorts as time on one engine

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def list_images(patterns: Sequence[str]) -> list[Listed]:
    """Tagged images whose ref matches any of ``patterns`` (docker's globs), one call."""
    if not patterns:
        return []  # no filter would list every image
    filters = [arg for pattern in patterns for arg in ("--filter", f"reference={pattern}")]
    argv = ("docker", "image", "ls", "--no-trunc", "--format", "{{json .}}", *filters)
    rows = [json.loads(line) for line in run(argv, timeout=QUICK_TIMEOUT).stdout.splitlines() if line.strip()]
    return [
        Listed(str(row["Repository"]), str(row["Tag"]), str(row["ID"]), str(row.get("CreatedAt", "")))
        for row in rows
        if row.get("Tag") not in (None, "<none>")
    ]


def images_with_label(key: str) -> list[Image]:
    """Every local image carrying the label ``key`` (two calls: list, then inspect)."""
    argv = ("docker", "image", "ls", "--quiet", "--no-trunc", "--filter", f"label={key}")
    ids = run(argv, timeout=QUICK_TIMEOUT).stdout.split()
    return list(inspect_images(ids).values())


def image(ref: str) -> Image | None:
    return inspect_images([ref]).get(ref)


def image_id(ref: str) -> str | None:
    found = image(ref)
    return found.id if found else None


def tag(source: str, target: str) -> None:
    run(("docker", "image", "tag", source, target), timeout=QUICK_TIMEOUT)


def remove_image(ref: str, *, force: bool = False) -> bool:
    """Remove a tag (or an image). False when there was nothing to remove."""
    argv = ("docker", "image", "rm", *(("--force",) if force else ()), ref)
    try:
        run(argv, timeout=QUICK_TIMEOUT)
    except NoSuchImage:
        return False
    return True


def pull(
    ref: str,
    *,
    attempts: int = 1,
    on_retry: RetryNotice | None = None,
    on_line: LineSink | None = None,
) -> None:
    """``docker pull`` with retries of transient registry/network errors only."""
    for attempt in retrying(attempts, on_retry, settings.retry_wait):
        with attempt:
            run(("docker", "pull", ref), on_line=on_line, stoppable=True)


def push(ref: str, *, on_line: LineSink | None = None) -> None:
    run(("docker", "push", ref), on_line=on_line, stoppable=True)


_buildkit_lock = threading.Lock()


def prefetch_buildkit() -> None:
    """Start asking whether builds go to BuildKit, in the background (saves a round trip)."""

    def ask() -> None:
        with contextlib.suppress(ClawError):  # the build itself will report it
            buildkit()

    threading.Thread(target=ask, daemon=True, name="claw-buildkit").start()


def buildkit() -> bool:
    """Whether ``docker build`` goes to BuildKit (buildx present, not disabled).

    Asked once per process; callers may ask early from a thread (``claw pull``
    does, while it checks the engine) and later ones wait for that answer."""
    with _buildkit_lock:
        return _detect_buildkit()


@cache
def _detect_buildkit() -> bool:
    if os.environ.get("DOCKER_BUILDKIT", "").strip().lower() in {"0", "false"}:
        return False
    try:
        run(("docker", "buildx", "version"), timeout=QUICK_TIMEOUT)
    except DockerError:
        return False
    return True


BuildArg = tuple[str, str | None]
"""``(KEY, VALUE)``; a ``None`` value passes ``KEY`` through from the environment."""


def build_argv(
    context: Path,
    *,
    iidfile: Path,
    buildkit: bool,
    tag: str | None = None,
    dockerfile: Path | None = None,
    from_stdin: bool = False,
    labels: Mapping[str, str] | None = None,
    pull: bool = False,
    no_cache: bool = False,
    target: str | None = None,
    build_args: Sequence[BuildArg] = (),
) -> tuple[str, ...]:
    argv: list[str] = ["docker", "build", "--iidfile", str(iidfile)]
    argv += ["--progress=plain"] if buildkit else ["--force-rm"]
    if pull:
        argv.append("--pull")
    if no_cache:
        argv.append("--no-cache")
    if tag:
        argv += ["--tag", tag]
    if from_stdin:
        argv += ["--file", "-"]
    elif dockerfile is not None:
        argv += ["--file", str(dockerfile)]
    if target:
        argv += ["--target", target]
    for key, value in build_args:
        argv += ["--build-arg", key if value is None else f"{key}={value}"]
    for key, value in (labels or {}).items():
        argv += ["--label", f"{key}={value}"]
    argv.append(str(context))
    return tuple(argv)


def build(
    context: Path,
    *,
    tag: str | None = None,
    dockerfile: Path | None = None,
    dockerfile_text: str | None = None,
    labels: Mapping[str, str] | None = None,
    pull: bool = False,
    no_cache: bool = False,
    target: str | None = None,
    build_args: Sequence[BuildArg] = (),
    on_line: LineSink | None = None,
    attempts: int = 1,
    on_retry: RetryNotice | None = None,
) -> str:
    """Build an image and return its ID.

    ``dockerfile_text`` is fed on stdin (``--file -``) with ``context`` as the
    build context. Only a build that pulls (``--pull``) is retried, and only on
    a transient error: a failing RUN is the recipe's business.
    """
    with tempfile.TemporaryDirectory(prefix="claw-build-") as tmp:
        iidfile = Path(tmp) / "iid"
        argv = build_argv(
            context,
            iidfile=iidfile,
            buildkit=buildkit(),
            tag=tag,
            dockerfile=dockerfile,
            from_stdin=dockerfile_text is not None,
            labels=labels,
            pull=pull,
            no_cache=no_cache,
            target=target,
            build_args=build_args,
        )
        for attempt in retrying(attempts if pull else 1, on_retry, settings.retry_wait):
            with attempt:
                run(argv, stdin=dockerfile_text, on_line=on_line, stoppable=True)
        return iidfile.read_text().strip()


# --------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------


def probe_argv(
    image: str, argv: Sequence[str], name: str, labels: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    entrypoint, *args = argv
    label_args = [arg for key, value in (labels or {}).items() for arg in ("--label", f"{key}={value}")]
    return (
        "docker", "run", "--rm", "--init", "--network", "none", "--pull", "never",
        "--name", name, *label_args, "--entrypoint", entrypoint, image, *args,
    )  # fmt: skip


def run_probe(
    image: str, argv: Sequence[str], *, timeout: float, labels: Mapping[str, str] | None = None
) -> str:
    """Run ``argv`` in a throw-away container of ``image``; return its output.

    No network, no pull, an init process, a unique name. Past ``timeout`` the
    container is removed by name: killing the docker CLI alone leaves it running.
    ``labels`` mark the container, so leftovers of a killed run can be found.
    """
    if not argv:
        raise ValueError("run_probe needs a command")
    name = f"claw-probe-{os.urandom(8).hex()}"
    try:
        result = run(probe_argv(image, argv, name, labels), timeout=timeout, stoppable=True)
    except (DockerTimeout, Interrupted):
        remove_container(name)
        raise
    return "\n".join(part for part in (result.stdout, result.stderr) if part.strip())


def remove_container(name: str) -> None:
    """``docker rm -f``; a container that is already gone is fine."""
    run(("docker", "rm", "--force", name), ok_codes=(0, 1), timeout=QUICK_TIMEOUT)


def containers_labelled(label: str) -> list[str]:
    """Names of the containers (running or not) with ``label`` (``key=value``)."""
    argv = ("docker", "container", "ls", "--all", "--filter", f"label={label}", "--format", "{{.Names}}")
    return run(argv, timeout=QUICK_TIMEOUT).stdout.split()


def container_image_ids() -> set[str]:
    """Full IDs of the images every container (running or not) was created from."""
    ids = run(("docker", "container", "ls", "--all", "--quiet", "--no-trunc"), timeout=QUICK_TIMEOUT)
    if not ids.stdout.split():
        return set()
    argv = ("docker", "container", "inspect", "--format", "{{.Image}}", *ids.stdout.split())
    return set(run(argv, ok_codes=(0, 1), timeout=QUICK_TIMEOUT).stdout.split())  # 1: one just went


# --------------------------------------------------------------------------
# Compose: the v2 plugin, else the v1 standalone
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeCli:
    argv: tuple[str, ...]
    version: str

    @property
    def v1(self) -> bool:
        return self.version.startswith("1.")


@cache
def compose_cli() -> ComposeCli:
    """``docker compose`` when it answers, else ``docker-compose``; cached."""
    for prefix in (("docker", "compose"), ("docker-compose",)):
        try:
            result = run((*prefix, "version", "--short"), timeout=QUICK_TIMEOUT)
        except (DockerError, DockerMissing):
            continue
        return ComposeCli(prefix, result.stdout.strip().lstrip("v"))
    raise DockerMissing(
        "no compose found: neither `docker compose` (the v2 plugin) nor `docker-compose` (v1) answered",
        hint="install the compose plugin (docker-compose-plugin) or docker-compose",
    )


def compose(
    args: Sequence[str],
    *,
    project: str,
    file: Path,
    on_line: LineSink | None = None,
) -> Result:
    """Run compose with flags both v1 and v2 understand (v1 exits 0 on unknown ones)."""
    cli = compose_cli()
    argv = (*cli.argv, "--ansi", "never", "--project-name", project, "--file", str(file), *args)
    return run(argv, on_line=on_line, stoppable=True)


def compose_up_args(cli: ComposeCli, *, detach: bool) -> tuple[str, ...]:
    """``up`` with images as they are: never build, never pull (v1 has no ``--pull``)."""
    args = ["up", "--no-build"]
    if not cli.v1:
        args += ["--pull", "never"]
    if detach:
        args.append("--detach")
    return tuple(args)


def compose_up(*, project: str, file: Path, detach: bool, on_line: LineSink | None = None) -> Result:
    return compose(compose_up_args(compose_cli(), detach=detach), project=project, file=file, on_line=on_line)


def compose_down(*, project: str, file: Path, volumes: bool, on_line: LineSink | None = None) -> Result:
    args = ("down", "--volumes") if volumes else ("down",)
    return compose(args, project=project, file=file, on_line=on_line)
