"""What a command prints once its work is done: its results (a pull's: ``show_pull``) and
verdict, one engine's or several engines' side by side, and with --json the one document
on stdout, also when the command fails or is refused.

One engine is a fleet of one: its results are printed as they are, its value's JSON is
the document's own and its error goes on unchanged. Several engines: each engine's
results under its name with a line saying how it ended, the JSON grouped by engine, and
one error for them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import EXIT_FAILED, EXIT_INTERRUPTED, ClawError, Interrupted

if TYPE_CHECKING:
    from .invocation import Done, Invocation
    from .ui import Ui
    from .verbs.pull import Report

R = TypeVar("R")

#: what each command's document holds when nothing was done (a refusal, an early error)
JSON_SHAPES: dict[str, dict[str, Any]] = {"pull": {"actions": []}, "up": {"services": []}}


@contextlib.contextmanager
def json_document(ui: Ui, command: str, wanted: bool) -> Iterator[dict[str, Any]]:
    """With --json, exactly one document on stdout, on failure too: what was done before
    the failure (else the command's empty shape), and the error with its exit status."""
    document = _document(command)
    try:
        yield document
    except BaseException as exc:
        if wanted and isinstance(exc, (ClawError, KeyboardInterrupt)):
            code = exc.exit_code if isinstance(exc, ClawError) else EXIT_INTERRUPTED
            message = exc.render() if isinstance(exc, ClawError) else "interrupted"
            _print_json(ui, _failed(document, message, code))
        raise
    if wanted:
        _print_json(ui, document)


def print_refusal(ui: Ui, command: str | None, message: str, code: int) -> None:
    """A command refused before it ran (bad usage), as the one document --json promises."""
    _print_json(ui, _failed(_document(command), message, code))


def _document(command: str | None) -> dict[str, Any]:
    """The command's document before anything was done."""
    return {"command": command, "ok": True, **JSON_SHAPES.get(command or "", {})}


def _failed(document: dict[str, Any], message: str, code: int) -> dict[str, Any]:
    document.update(ok=False, error={"message": message, "exit": code})
    return document


def _print_json(ui: Ui, document: dict[str, Any]) -> None:
    import json

    ui.result(json.dumps(document, indent=2))


Show = Callable[["Ui", R], None]
Verdict = Callable[["Invocation", R], "ClawError | None"]


def report(
    ui: Ui,
    document: dict[str, Any],
    done: Sequence[Done[R]],
    show: Show[R] | None,
    verdict: Verdict[R] | None = None,
    *,
    show_failed: bool = True,
) -> None:
    """What the engines' work came to. ``show`` prints an engine's value (None with
    --json; ``show_failed=False``: not when its verdict fails); ``verdict`` says what is
    wrong with a value, None when nothing is."""
    if len(done) == 1:
        one = done[0]
        error = verdict_error(one, verdict)
        _show(ui, one, show if error is None or show_failed else None)
        document.update(_json_of(one.value))
        if error is not None:
            raise error
        return
    _report_several(ui, document, done, show, verdict, show_failed=show_failed)


def _report_several(
    ui: Ui,
    document: dict[str, Any],
    done: Sequence[Done[R]],
    show: Show[R] | None,
    verdict: Verdict[R] | None,
    *,
    show_failed: bool,
) -> None:
    """Each engine's results under its name and a line saying how it ended. The exit
    status is the failures' own when they share one (2 if each was bad input, 3 if each
    engine is not ready), else 1; 130 if interrupted."""
    failed: list[tuple[str, ClawError]] = []
    engines: list[dict[str, Any]] = []
    for one in done:
        error = verdict_error(one, verdict)
        _show(ui, one, show if error is None or show_failed else None)
        data = _json_of(one.value)
        data.update(context=one.inv.engine.name, ok=error is None)
        if error is not None:
            data["error"] = {"message": error.render(), "exit": error.exit_code}
            failed.append((one.inv.engine.name, error))
        engines.append(data)
        if show is not None:
            ended = ("ok", None) if error is None else (f"failed: {error.message}", "red")
            ui.for_engine(one.inv.fleet_name).result(ended[0], fg=ended[1])
    for shape in JSON_SHAPES.values():
        for key in shape:
            document.pop(key, None)
    document["engines"] = engines
    if any(isinstance(error, Interrupted) for _, error in failed):
        raise Interrupted()
    if failed:
        names = ", ".join(name for name, _ in failed)
        codes = {error.exit_code for _, error in failed}
        summary = ClawError(f"{len(failed)} of {len(done)} engines did not succeed: {names}")
        summary.exit_code = codes.pop() if len(codes) == 1 else EXIT_FAILED
        raise summary


def verdict_error(one: Done[R], verdict: Verdict[R] | None) -> ClawError | None:
    """What ended one engine's work, or what its verdict says of the result."""
    if one.error is not None or one.value is None or verdict is None:
        return one.error
    return verdict(one.inv, one.value)


def passed(done: Sequence[Done[R]], verdict: Verdict[R]) -> list[tuple[Invocation, R]]:
    """Each engine whose work ended well and whose verdict finds nothing wrong, with its value."""
    return [
        (one.inv, one.value) for one in done if one.value is not None and verdict_error(one, verdict) is None
    ]


def _show(ui: Ui, one: Done[R], show: Show[R] | None) -> None:
    if show is not None and one.value is not None:
        show(ui.for_engine(one.inv.fleet_name), one.value)


def show_pull(ui: Ui, report: Report) -> None:
    """A pull's results, then what the operator should know of its failures."""
    for result in report.results:
        for number, line in enumerate(result.lines()):
            ui.result(line, fg="red" if result.failed and number == 0 else None)
    if not report.results:
        ui.info("nothing to pull: no infra, registry images or runners for this target")
    for result in report.failed:
        if result.outcome is not None and result.outcome.log is not None:
            ui.info(f"{result.action.name}: full log in {result.outcome.log}")
    if report.lock_diff is not None:
        ui.result(report.lock_diff.rstrip("\n") if report.lock_diff else "claw.lock: no change")
    for hint in report.hints:
        ui.info(f"hint: {hint}")


def _json_of(value: Any) -> dict[str, Any]:
    to_json = getattr(value, "to_json", None)
    data: dict[str, Any] = to_json() if callable(to_json) else {}
    data.pop("command", None)
    return data
