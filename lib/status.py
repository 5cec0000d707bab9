"""The outcome of one action of a verb, as printed and as written in ``--json``."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    PRESENT = "present"
    PULLED = "pulled"
    INSTALLED = "installed"
    REBUILT = "rebuilt"
    FAILED = "failed"
    NOT_ATTEMPTED = "not-attempted"
    WOULD_PULL = "would-pull"
    WOULD_REFRESH = "would-refresh"
    UP_TO_DATE = "up-to-date"  # livecheck: nothing moved, nothing built
    BEHIND = "behind"  # pull --check: something would change
    MISSING = "missing"  # pull --check: an image that is not on the host
    NOT_INSTALLED = "not-installed"  # pull --check: a runner base that is not on the host
    UNKNOWN = "unknown"  # pull --check: a question could not be answered
    PINNED = "pinned"  # the config holds the runner at a version: pull leaves it
    ROLLED_BACK = "rolled-back"  # pull --rollback moved latest
    WOULD_ROLL_BACK = "would-roll-back"
    LOCKED = "locked"  # claw.lock: the locked base is here, as locked
    BUILT_LOCKED = "built-locked"  # claw.lock: built from the entry (latest untouched)

    @property
    def failed(self) -> bool:
        """Outcomes that make the verb exit 1."""
        return self in (Status.FAILED, Status.NOT_ATTEMPTED, Status.UNKNOWN)

    @property
    def behind(self) -> bool:
        """What `pull --check` reports as something to do (exit 3)."""
        return self in (Status.BEHIND, Status.MISSING, Status.NOT_INSTALLED)
