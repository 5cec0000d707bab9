"""The docker door: an ``Engine`` per docker endpoint, speaking docker's vocabulary.

Every docker and compose call of claw goes through an ``Engine`` instance:
images (inspect, list, tag, remove, pull, build), probe containers, and
compose. What the engine answers once (BuildKit or not, which compose) is cached
on the instance, so two engines side by side never share a fact. Commands are
argv tuples, never shell strings; the argv builders are pure functions.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..classify import RetryNotice, classify, name_taken_by, retrying
from ..errors import (
    ClawError,
    DockerError,
    DockerMissing,
    DockerTimeout,
    Interrupted,
    NoSuchContainer,
    NoSuchImage,
)
from .argv import (
    BuildArg,
    ComposeCli,
    build_args_for,
    compose_up_args,
    context_environment,
    marker_args,
    probe_args,
)
from .digests import RemoteAnswer, remote_digest
from .output import EngineInfo, Image, Listed, inspected, json_line, listed
from .process import Children, LineSink, Result

if TYPE_CHECKING:
    import tenacity

QUICK_TIMEOUT = 120.0
"""Seconds for calls that should answer at once (version, inspect, tag, rm)."""


class Engine:
    """One docker endpoint: ``context`` names a docker context; ``None`` is whatever
    ``DOCKER_HOST``/``DOCKER_CONTEXT`` select, passed through untouched."""

    def __init__(
        self,
        context: str | None = None,
        *,
        children: Children | None = None,
        echo: LineSink | None = None,
        retry_wait: tenacity.wait.wait_base | None = None,
    ) -> None:
        self.context = context
        self.children = children or Children()
        self.echo = echo  # -v: receives "$ docker ..." before each command
        self.retry_wait = retry_wait  # None: exponential backoff with jitter
        self._facts_lock = threading.Lock()
        self._buildkit: bool | None = None
        self._compose: ComposeCli | None = None

    @property
    def name(self) -> str:
        return self.context or "default"

    @property
    def where(self) -> str:
        """The endpoint as this process names it (the key of its host locks)."""
        if self.context:
            return f"context:{self.context}"
        return os.environ.get("DOCKER_HOST") or f"context:{os.environ.get('DOCKER_CONTEXT') or 'default'}"

    def docker(self, *args: str) -> tuple[str, ...]:
        """``docker [--context NAME] ARGS``."""
        return ("docker", "--context", self.context, *args) if self.context else ("docker", *args)

    def run(self, argv: Sequence[str], **options: Any) -> Result:
        return self.children.run(argv, echo=self.echo, **options)

    def _quick(self, *args: str, ok_codes: Sequence[int] = (0,)) -> Result:
        return self.run(self.docker(*args), timeout=QUICK_TIMEOUT, ok_codes=ok_codes)

    # -- the engine --------------------------------------------------------

    def check(self) -> EngineInfo:
        """One cheap call that proves the engine answers (raises EngineUnreachable)."""
        return EngineInfo.from_version(self._quick("version", "--format", "{{json .}}").stdout)

    def context_names(self) -> list[str]:
        """The docker contexts this client knows (``docker context ls``)."""
        out = self._quick("context", "ls", "--format", "{{.Name}}").stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    # -- images ------------------------------------------------------------

    def inspect_images(self, refs: Iterable[str]) -> dict[str, Image]:
        """Inspect many refs with ONE docker call. Missing refs are absent from the result.

        ``docker image inspect a missing b`` exits 1 but still prints ``a`` and
        ``b`` in order; stderr names the missing ones."""
        wanted = list(dict.fromkeys(refs))
        if not wanted:
            return {}
        result = self._quick("image", "inspect", "--format", "{{json .}}", *wanted, ok_codes=(0, 1))
        return inspected(result, wanted)

    def list_images(self, patterns: Sequence[str]) -> list[Listed]:
        """Tagged images whose ref matches any of ``patterns`` (docker's globs), one call."""
        if not patterns:
            return []  # no filter would list every image
        filters = [arg for pattern in patterns for arg in ("--filter", f"reference={pattern}")]
        return listed(self._quick("image", "ls", "--no-trunc", "--format", "{{json .}}", *filters).stdout)

    def images_with_label(self, key: str) -> list[Image]:
        """Every local image carrying the label ``key`` (two calls: list, then inspect)."""
        ids = self._quick("image", "ls", "--quiet", "--no-trunc", "--filter", f"label={key}").stdout.split()
        return list(self.inspect_images(ids).values())

    def tag(self, source: str, target: str) -> None:
        self._quick("image", "tag", source, target)

    def remove_image(self, ref: str, *, force: bool = False) -> bool:
        """Remove a tag (or an image). False when there was nothing to remove."""
        try:
            self._quick("image", "rm", *(("--force",) if force else ()), ref)
        except NoSuchImage:
            return False
        return True

    def pull(
        self,
        ref: str,
        *,
        attempts: int = 1,
        on_retry: RetryNotice | None = None,
        on_line: LineSink | None = None,
    ) -> None:
        """``docker pull`` with retries of transient registry/network errors only."""
        for attempt in retrying(attempts, on_retry, self.retry_wait):
            with attempt:
                self.run(self.docker("pull", ref), on_line=on_line, stoppable=True)

    def registry_digest(
        self,
        ref: str,
        *,
        recorded: str | None = None,
        attempts: int = 1,
        on_retry: RetryNotice | None = None,
    ) -> RemoteAnswer:
        """What the registry names for ``ref`` now, downloading nothing
        (``remote_digest``, through buildx when builds go to BuildKit), with
        retries of transient registry/network errors only."""
        buildkit = self.buildkit()
        for attempt in retrying(attempts, on_retry, self.retry_wait):
            with attempt:
                return remote_digest(self.ask_registry, ref, buildkit=buildkit, recorded=recorded)
        raise AssertionError("retrying() returns or raises")  # pragma: no cover

    def ask_registry(self, args: Sequence[str]) -> Result:
        """``docker ARGS`` that ask a registry from the CLI (``remote_digest``): quick, and stopped
        with the command's other children."""
        return self.run(self.docker(*args), timeout=QUICK_TIMEOUT, stoppable=True)

    # -- builds ------------------------------------------------------------

    def prefetch_buildkit(self) -> None:
        """Start asking whether builds go to BuildKit, in the background (saves a round trip)."""

        def ask() -> None:
            with contextlib.suppress(ClawError):  # the build itself will report it
                self.buildkit()

        threading.Thread(target=ask, daemon=True, name="claw-buildkit").start()

    def buildkit(self) -> bool:
        """Whether ``docker build`` goes to BuildKit (buildx present, not disabled).

        Asked once per engine; an early ask from a thread (``prefetch_buildkit``)
        is waited for by later ones."""
        with self._facts_lock:
            if self._buildkit is None:
                self._buildkit = self._detect_buildkit()
            return self._buildkit

    def _detect_buildkit(self) -> bool:
        if os.environ.get("DOCKER_BUILDKIT", "").strip().lower() in {"0", "false"}:
            return False
        try:
            self._quick("buildx", "version")
        except DockerError:
            return False
        return True

    def build(
        self,
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
        build context. ``labels`` go on with ``--label``, which the legacy builder makes a
        step each (a container and a commit): many labels are cheaper in the Dockerfile
        (``dockerfile.labelled``), where a build ``target`` would not get them. A transient
        error is tried again up to ``attempts`` times: the refresh asks for that (its build
        may fetch FROM images), a service build does not (its FROM is local; a failing RUN
        is the recipe's business)."""
        with tempfile.TemporaryDirectory(prefix="claw-build-") as tmp:
            iidfile = Path(tmp) / "iid"
            argv = self.docker(*build_args_for(
                context, iidfile=iidfile, buildkit=self.buildkit(), tag=tag, dockerfile=dockerfile,
                from_stdin=dockerfile_text is not None, labels=labels, pull=pull, no_cache=no_cache,
                target=target, build_args=build_args,
            ))  # fmt: skip
            for attempt in retrying(attempts, on_retry, self.retry_wait):
                with attempt:
                    self.run(argv, stdin=dockerfile_text, on_line=on_line, stoppable=True)
            return iidfile.read_text().strip()

    # -- containers --------------------------------------------------------

    def run_probe(
        self, image: str, argv: Sequence[str], *, timeout: float, labels: Mapping[str, str] | None = None
    ) -> str:
        """Run ``argv`` in a throw-away container of ``image``; return its output.

        No network, no pull, an init process, a unique name. Past ``timeout`` the
        container is removed by name: killing the docker CLI alone leaves it running.
        ``labels`` mark the container, so leftovers of a killed run can be found."""
        if not argv:
            raise ValueError("run_probe needs a command")
        name = f"claw-probe-{os.urandom(8).hex()}"
        try:
            result = self.run(
                self.docker(*probe_args(image, argv, name, labels)), timeout=timeout, stoppable=True
            )
        except (DockerTimeout, Interrupted):
            self.remove_container(name)
            raise
        return "\n".join(part for part in (result.stdout, result.stderr) if part.strip())

    def remove_container(self, name: str) -> None:
        """``docker rm -f``; a container that is already gone is fine."""
        self._quick("rm", "--force", name, ok_codes=(0, 1))

    def create_marker(self, name: str, image: str, labels: Mapping[str, str]) -> tuple[bool, str]:
        """Create (never start) a container ``name`` of the local ``image``, as a lock:
        ``(True, its ID)``, or ``(False, the holder's ID)`` when the name is taken. An
        ``image`` that is not here is imported empty first."""
        args = marker_args(name, image, labels)
        try:
            return self._create_marker(args)
        except NoSuchImage:
            self.run(self.docker("image", "import", "--change", 'CMD ["lock"]', "-", image),
                     stdin="\0" * 1024, timeout=QUICK_TIMEOUT)  # fmt: skip
            return self._create_marker(args)

    def _create_marker(self, args: Sequence[str]) -> tuple[bool, str]:
        result = self._quick(*args, ok_codes=(0, 1, 125))
        if result.exit_code == 0:
            return True, result.stdout.strip()
        holder = name_taken_by(result.stderr)
        if holder is None:
            raise classify(result.argv, result.exit_code, result.stdout, result.stderr)
        return False, holder

    def marker_labels(self, container: str) -> dict[str, str] | None:
        """The labels of ``container``; ``None`` when it no longer exists."""
        try:
            out = self._quick("container", "inspect", "--format", "{{json .Config.Labels}}", container).stdout
        except NoSuchContainer:
            return None
        labels = json_line(out)
        return {str(key): str(value) for key, value in labels.items()}

    def containers_labelled(self, label: str) -> list[str]:
        """Names of the containers (running or not) with ``label`` (``key`` or ``key=value``)."""
        args = ("container", "ls", "--all", "--filter", f"label={label}", "--format", "{{.Names}}")
        return self._quick(*args).stdout.split()

    def container_image_ids(self) -> set[str]:
        """Full IDs of the images every container (running or not) was created from."""
        ids = self._quick("container", "ls", "--all", "--quiet", "--no-trunc").stdout.split()
        if not ids:
            return set()
        out = self._quick("container", "inspect", "--format", "{{.Image}}", *ids, ok_codes=(0, 1)).stdout
        return set(out.split())  # exit 1: one just went

    # -- compose: the v2 plugin, else the v1 standalone -------------------

    def compose_cli(self) -> ComposeCli:
        """``docker compose`` when it answers, else ``docker-compose``; asked once."""
        with self._facts_lock:
            if self._compose is None:
                self._compose = self._detect_compose()
            return self._compose

    def _detect_compose(self) -> ComposeCli:
        """v2 first, then v1. v1 (``docker-compose``) has no ``--context``: on a named
        context it runs with the context's endpoint as ``DOCKER_HOST`` (and its TLS
        settings), never with whatever engine the environment names; a context that
        cannot be said so is refused."""
        self.children.program("docker")  # no docker at all: say that, not "no compose"
        try:
            result = self._run_quick(self.docker("compose"), "version", "--short")
            return ComposeCli(self.docker("compose"), result.stdout.strip().lstrip("v"))
        except (DockerError, DockerMissing):
            pass
        env = self._context_environment() if self.context else None
        if isinstance(env, str):
            raise DockerMissing(
                f"`docker compose` (the v2 plugin) did not answer for context {self.context}, and "
                f"docker-compose (v1) cannot drive it: {env}",
                hint="install the compose v2 plugin (docker-compose-plugin) on this host, "
                "or run without --context with DOCKER_HOST set",
            )
        try:
            result = self.run(("docker-compose", "version", "--short"), timeout=QUICK_TIMEOUT, env=env)
            return ComposeCli(("docker-compose",), result.stdout.strip().lstrip("v"), env)
        except (DockerError, DockerMissing):
            pass
        raise DockerMissing(
            "no compose found: neither `docker compose` (the v2 plugin) nor `docker-compose` (v1) answered",
            hint="install the compose plugin (docker-compose-plugin) or docker-compose",
        )

    def _context_environment(self) -> dict[str, str] | str:
        """What makes compose v1 drive this engine's context (``argv.context_environment``);
        a string: why it cannot."""
        assert self.context is not None
        try:
            out = self._quick("context", "inspect", self.context, "--format", "{{json .}}").stdout
        except DockerError as exc:
            return f"docker context inspect failed: {exc.reason}"
        return context_environment(json_line(out), os.environ)

    def _run_quick(self, prefix: Sequence[str], *args: str) -> Result:
        return self.run((*prefix, *args), timeout=QUICK_TIMEOUT)

    def compose(
        self,
        args: Sequence[str],
        *,
        project: str,
        file: Path,
        on_line: LineSink | None = None,
        foreground: bool = False,
    ) -> Result:
        """Run compose with flags both v1 and v2 understand (v1 exits 0 on unknown ones)."""
        cli = self.compose_cli()
        argv = (*cli.argv, "--ansi", "never", "--project-name", project, "--file", str(file), *args)
        return self.run(argv, on_line=on_line, stoppable=True, foreground=foreground, env=cli.env)

    def compose_up(
        self, *, project: str, file: Path, detach: bool, on_line: LineSink | None = None
    ) -> Result:
        args = compose_up_args(self.compose_cli(), detach=detach)
        return self.compose(args, project=project, file=file, on_line=on_line, foreground=not detach)

    def compose_down(
        self, *, project: str, file: Path, volumes: bool, on_line: LineSink | None = None
    ) -> Result:
        args = ("down", "--volumes") if volumes else ("down",)
        return self.compose(args, project=project, file=file, on_line=on_line)
