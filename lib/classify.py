"""docker's words, classified: the one table, and the retry policy built on it.

The engine runs every command; when one fails, ``classify`` picks the error
class from the text docker printed. docs/retries.md mirrors ``RULES``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import (
    DockerError,
    EngineUnreachable,
    NoSuchContainer,
    NoSuchImage,
    NotAttempted,
    PermanentError,
    RegistryBlocked,
    TransientError,
)

if TYPE_CHECKING:
    import tenacity

RetryNotice = Callable[[Exception, int, float], None]
"""Called before a retry with the error, the attempt that failed and the wait."""


FLAGS = re.IGNORECASE | re.MULTILINE


@dataclass(frozen=True)
class Rule:
    kind: type[DockerError] | type[EngineUnreachable]
    pattern: str  # compiled on first use (re caches it): most runs classify nothing
    max_attempts: int | None = None  # for TransientError: a tighter cap
    hint: str | None = None


def _rules(
    kind: type[DockerError] | type[EngineUnreachable],
    *patterns: str,
    max_attempts: int | None = None,
    hint: str | None = None,
) -> list[Rule]:
    return [Rule(kind, pattern, max_attempts, hint) for pattern in patterns]


NO_SUCH_IMAGE = "no such image"  # docker image inspect/rm/tag, docker create of a missing image
LOGIN_HINT = "log in to the registry with `docker login` (and check the rate limit)"
LOCAL_IMAGE_HINT = "if this is a locally built image (a runner alias), run: claw pull"


# First match wins; anything unmatched is permanent. docs/retries.md mirrors this.
RULES: tuple[Rule, ...] = (
    *_rules(
        EngineUnreachable,
        r"cannot connect to the docker daemon",
        r"is the docker daemon running",
        r"permission denied while trying to connect to the docker",
        r"error during connect",
        r"context \S+ not found|context not found",
    ),
    # Deterministic failures whose text may also contain transient-looking words
    # (a failing RUN that printed "connection reset", say): never retried.
    *_rules(PermanentError, r"pull access denied", hint=LOCAL_IMAGE_HINT),
    *_rules(
        PermanentError,
        r"returned a non-zero code",
        r"did not complete successfully",
        r"executor failed running",
        r"manifest unknown",
        r"failed to resolve reference .*not found",
        r"no matching manifest",
        r"no space left on device",
        r"invalid reference format",
        r"oci runtime",
        r"no such host",  # the name does not exist (NXDOMAIN): asking again will not make it
    ),
    *_rules(NoSuchImage, NO_SUCH_IMAGE),
    *_rules(NoSuchContainer, r"no such container"),
    *_rules(
        RegistryBlocked,
        r"toomanyrequests",
        r"429 too many requests",
        r"\bunauthorized\b",
        r"authentication required",
        r"\b401 unauthorized\b",
        r"\b403 forbidden\b",
        r"(^|: )denied(:|$)",
        hint=LOGIN_HINT,
    ),
    *_rules(TransientError, r"expected http 206 from byte range request", max_attempts=2),
    *_rules(TransientError, r"filesystem layer verification failed", max_attempts=2),
    *_rules(TransientError, r"connection refused", max_attempts=2),
    *_rules(TransientError, r"temporary failure in name resolution", r"server misbehaving", max_attempts=2),
    *_rules(
        TransientError,
        r"tls handshake timeout",
        r"connection reset by peer",
        r"i/o timeout",
        r"client\.timeout exceeded",
        r"context deadline exceeded",
        r"net/http: request canceled",
        r"unexpected eof",
        r'": eof$|: eof$',
        r"received unexpected http status: 5\d\d",
        r"\b50[0234] (internal server error|bad gateway|service unavailable|gateway time-?out)",
    ),
)


NAME_TAKEN = re.compile(r'name "?/?[^"]*"? is already in use by container "?([0-9a-f]{12,64})', FLAGS)


def name_taken_by(stderr: str) -> str | None:
    """The ID of the container holding a name a ``docker create`` asked for, if that is
    why it failed (a lock held by someone else: data, not an error)."""
    found = NAME_TAKEN.search(stderr)
    return found.group(1) if found else None


def missing_image(line: str, wanted: Sequence[str]) -> str | None:
    """Which of ``wanted`` a line of ``docker image inspect``'s stderr says is not there
    (``Error: No such image: node:22``, or the same followed by ``: <detail>``); ``None``
    when the line says something else."""
    marker = f"{NO_SUCH_IMAGE}: "
    at = line.lower().find(marker)
    if at < 0:
        return None
    rest = line[at + len(marker) :]
    for ref in sorted(wanted, key=len, reverse=True):
        if rest.lower().startswith(ref.lower()):
            after = rest[len(ref) :]
            if after.startswith(": ") or not after.strip():
                return ref
    return None


def classify(
    argv: Sequence[str], returncode: int, stdout: str, stderr: str
) -> DockerError | EngineUnreachable:
    """Turn a failed command into the right error: a ``DockerError`` subclass, or
    ``EngineUnreachable`` when no engine answered."""
    text = stderr if stderr.strip() else stdout
    rule = next((rule for rule in RULES if re.search(rule.pattern, text, FLAGS)), None)
    if rule is None:
        return PermanentError(argv, returncode, stdout, stderr)
    error = rule.kind(argv, returncode, stdout, stderr, hint=rule.hint)
    if isinstance(error, TransientError):
        error.max_attempts = rule.max_attempts
    return error


def retrying(
    attempts: int,
    on_retry: RetryNotice | None = None,
    wait: tenacity.wait.wait_base | None = None,
    *,
    transient: Callable[[BaseException], bool] | None = None,
) -> tenacity.Retrying:
    """The retry policy for idempotent network work: transient errors only.

    ``transient`` says which errors are worth another attempt (default: a
    ``TransientError`` below its own cap). ``wait`` defaults to exponential
    backoff with jitter, capped at 30 s."""
    import tenacity

    worth = transient or _transient_docker_error

    def should_retry(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None or not worth(exc):
            return False
        cap = getattr(exc, "max_attempts", None)
        return cap is None or state.attempt_number < cap

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(exc, Exception):
            on_retry(exc, state.attempt_number, state.upcoming_sleep)

    return tenacity.Retrying(
        retry=should_retry,
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=wait or tenacity.wait_exponential_jitter(max=30, jitter=2),
        before_sleep=before_sleep,
        reraise=True,
    )


def _transient_docker_error(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)


class Breaker:
    """The circuit breaker of one run: after a rate limit or an auth error, the
    remaining registry work is not attempted (retrying makes both worse)."""

    def __init__(self) -> None:
        self._tripped: RegistryBlocked | None = None
        self._lock = threading.Lock()

    def trip(self, error: RegistryBlocked) -> None:
        with self._lock:
            self._tripped = self._tripped or error

    def check(self) -> None:
        """Raise NotAttempted once the breaker has tripped."""
        tripped = self._tripped
        if tripped is not None:
            raise NotAttempted(f"not attempted: the registry refused an earlier request ({tripped.reason})")
