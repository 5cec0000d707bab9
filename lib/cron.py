"""Cron schedule fields, as INVOKE takes them: five fields, validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import InputError


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of month", 1, 31),
    CronField("month", 1, 12, _MONTHS),
    CronField("day of week", 0, 7, _DAYS),
)


def check_field(text: str, spec: CronField, where: str) -> None:
    """Raise InputError (prefixed with ``where``) unless ``text`` is a valid ``spec`` field."""

    def bad(detail: str) -> InputError:
        return InputError(f"{where}: invalid cron {spec.name} {text!r}: {detail}")

    for part in text.split(","):
        base, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            raise bad(f"step {step!r} is not a positive number")
        if base == "*":
            continue
        low, dash, high = base.partition("-")
        first, last = _value(low, spec), _value(high if dash else low, spec)
        if first is None or last is None:
            raise bad(f"expected {spec.low}-{spec.high}" + (" or a name" if spec.names else ""))
        if first > last:
            raise bad("range runs backwards")


def _value(text: str, spec: CronField) -> int | None:
    value = spec.names.get(text.lower()) if not text.isdigit() else int(text)
    return value if value is not None and spec.low <= value <= spec.high else None
