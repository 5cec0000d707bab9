"""The one error family of claw.

Every failure an operator can cause or meet is a ``ClawError``; the top-level
handler in ``cli.main`` turns it into one line on stderr and the exit code below.
Docker failures are ``DockerError``s built by the engine from the CLI's own
words; which subclass is decided in one table (``classify``). An engine that
cannot be reached at all is not a failed command but the end of the run:
``EngineUnreachable`` is a sibling of ``DockerMissing``, not a ``DockerError``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_READY = 3
EXIT_INTERRUPTED = 130


class ClawError(Exception):
    """Base of every error claw reports without a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n{self.hint}"


class InputError(ClawError):
    """Bad input: a Clawfile, pod, config file or argument. Exit 2."""

    exit_code = EXIT_USAGE


class NotReady(ClawError):
    """Something to do first: `claw up` found something missing, `claw pull --check`
    found something a pull would change. Exit 3."""

    exit_code = EXIT_NOT_READY


class Interrupted(ClawError):
    """SIGINT or SIGTERM. Exit 130."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)


class DockerMissing(ClawError):
    """The `docker` (or `docker-compose`) executable is not on PATH."""


def docker_reason(stdout: str, stderr: str, returncode: int) -> str:
    """Docker's own words: the last meaningful line of stderr (or stdout)."""
    for text in (stderr, stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        words = [line for line in lines if not _is_noise(line)]
        if words:
            return words[-1]
    return f"exit status {returncode}"


def _is_noise(line: str) -> bool:
    lowered = line.lower()
    return (
        lowered.startswith("run 'docker")
        or lowered.startswith("see 'docker")
        or "legacy builder is deprecated" in lowered
        or lowered.startswith("install the buildx component")
        or lowered.startswith("https://docs.docker.com/go/buildx")
    )


class EngineUnreachable(ClawError):
    """No Docker engine answers: every action of the run would fail the same way."""

    def __init__(
        self, argv: Sequence[str], returncode: int, stdout: str, stderr: str, *, hint: str | None = None
    ) -> None:
        self.argv = tuple(argv)
        self.reason = docker_reason(stdout, stderr, returncode)
        super().__init__(f"cannot reach the Docker engine ({_where(self.argv)}): {self.reason}", hint=hint)


def _where(argv: Sequence[str]) -> str:
    if "--context" in argv[:3]:
        return f"context {argv[argv.index('--context') + 1]}"
    where = f"DOCKER_HOST={os.environ.get('DOCKER_HOST') or 'unset'}"
    if os.environ.get("DOCKER_CONTEXT"):
        where += f", DOCKER_CONTEXT={os.environ['DOCKER_CONTEXT']}"
    return where


class DockerError(ClawError):
    """A docker command failed. Carries everything needed to explain it."""

    #: what kind of failure, for messages and the retry/summary logic
    kind = "docker error"

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int,
        stdout: str,
        stderr: str,
        *,
        hint: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(self._summary(), hint=hint)

    @property
    def command(self) -> str:
        import shlex

        return shlex.join(self.argv)

    @property
    def reason(self) -> str:
        """Docker's own words: the last meaningful line of stderr (or stdout)."""
        return docker_reason(self.stdout, self.stderr, self.returncode)

    def _summary(self) -> str:
        return f"`{self.command}` failed (exit {self.returncode}): {self.reason}"


class NoSuchImage(DockerError):
    kind = "no such image"


class NoSuchContainer(DockerError):
    kind = "no such container"


class TransientError(DockerError):
    """A network or registry hiccup: worth retrying the whole command."""

    kind = "transient network/registry error"

    #: a cap below the configured attempts, for errors that rarely heal
    max_attempts: int | None = None


class RegistryBlocked(DockerError):
    """Rate limit or authentication failure: never retried; stops registry work."""

    kind = "registry refused (rate limit or authentication)"


class PermanentError(DockerError):
    """Anything docker said that is not known to be transient."""

    kind = "permanent error"


class RefreshFailed(ClawError):
    """A step of a runner base's refresh failed; the message is the reason the operator reads."""


class UpstreamError(ClawError):
    """An upstream (npm, PyPI, git) could not be asked, or its answer was not understood.
    Not retried."""

    transient = False

    def __init__(self, upstream: object, detail: str, *, max_attempts: int | None = None) -> None:
        self.upstream = upstream  # the ``upstreams.Upstream`` asked; its str() is its spec
        self.detail = detail
        self.max_attempts = max_attempts  # a cap below the configured attempts (read by the retry policy)
        super().__init__(f"{upstream}: {detail}")

    @property
    def reason(self) -> str:
        """One line for the operator, e.g. ``npm:openclaw: registry unreachable (connection refused)``."""
        return self.message


class UpstreamUnreachable(UpstreamError):
    """A network hiccup or a server error (5xx): worth asking again."""

    transient = True


class UnexpectedOutput(ClawError):
    """docker printed something other than the output it documents (JSON of a known
    shape); ``hint``, when one is known, is the way out."""


class NotAttempted(ClawError):
    """Registry work skipped because the registry refused an earlier request of this run."""


class DockerTimeout(DockerError):
    """A docker command ran past claw's own time limit and was stopped."""

    kind = "timed out"

    def __init__(self, argv: Sequence[str], seconds: float, stdout: str = "", stderr: str = "") -> None:
        self.seconds = seconds
        super().__init__(argv, -9, stdout, stderr)

    def _summary(self) -> str:
        return f"`{self.command}` did not finish within {self.seconds:g}s and was stopped"
