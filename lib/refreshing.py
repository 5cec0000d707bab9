"""A runner base's refresh as a pull does it (SPEC §9): livecheck first; a current base is
left as it is, one whose new release its runtime cannot run fails before building, and
any other goes through the refresh transaction with what livecheck learned."""

from __future__ import annotations

from . import asking, bases, transaction
from .actions import World
from .errors import UpstreamError
from .runners import Runner
from .status import Status


def refresh(
    world: World, runner: Runner, *, rebuild: bool, strict: bool = False
) -> tuple[bases.Outcome, asking.Checked]:
    """Livecheck first: a current base is left as it is; otherwise the transaction,
    recording what was learned. ``rebuild`` refreshes whatever the answers; ``strict``
    (locking): a question that cannot be answered fails the runner before any build."""
    engine, options, events = world.engine, world.options, world.events
    checked = asking.ask(engine, runner, world.asker, options, events, download=True)
    installed, verdict = checked.installed, checked.verdict
    for answer in checked.now.answers:
        if isinstance(answer, UpstreamError) and not answer.transient:
            events.warn(f"{answer.reason}; check upstream in [runners.{runner.driver}] of the config")
    if strict and verdict.unanswered:
        return bases.Outcome(runner, Status.FAILED, installed, reason=not_locked(checked)), checked
    if checked.up_to_date and not rebuild:
        transaction.tidy(engine, runner, options, events)
        return bases.Outcome(runner, Status.UP_TO_DATE, installed, steady=verdict.steady), checked
    conflicts = checked.runtime_conflicts(runner)
    if conflicts:  # the build would install a release its base's runtime cannot run (SPEC §12.4)
        fix = f"change the recipe's FROM (or pin {runner.driver})"
        reason = "; ".join(conflicts) + f": {fix}"
        return bases.Outcome(runner, Status.FAILED, installed, reason=reason, doing=""), checked
    why = ("--rebuild",) if rebuild else verdict.why
    engine.prefetch_buildkit()  # asked while the lock and leftovers are seen to
    seen: bases.Installed | bases.Unknown | None = bases.UNKNOWN if rebuild else installed
    outcome = transaction.refresh(engine, runner, options, events, now=checked.now, why=why, seen=seen)
    return outcome, checked


def not_locked(checked: asking.Checked) -> str:
    """Why a runner whose livecheck left questions unanswered is not locked."""
    return "not locked: a question could not be answered: " + "; ".join(checked.verdict.unanswered)
