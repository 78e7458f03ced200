"""How long the flush's schedule (cdk.json ``flush_schedule``, an EventBridge ``rate(...)`` or ``cron(...)``) may
leave between two runs: an hour is sent by the first run after it closes (its end plus ``flush_grace_seconds``, at
most an hour), and Marketplace takes a record only within 24 hours of its hour. ``MAX_FLUSH_GAP`` leaves room for
two failed runs in a row (attack 35: ``rate(1 day)`` deployed, and parked a day's oldest hour every day as
``TimestampOutOfBounds``, never billed).

A cron expression is read for the hours it runs in: its minutes may be anything that runs each hour it names; its
day-of-month, month, day-of-week and year must be every day (``*`` or ``?``), since a day without runs is a gap of a
day. Anything else is refused, naming the rate or cron that would do.
"""

from __future__ import annotations

import re
from datetime import timedelta

MAX_FLUSH_GAP = timedelta(hours=6)

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}
_HOURS_PART = re.compile(r"^(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?$")


def longest_gap(schedule: str) -> timedelta:
    """The longest the schedule leaves between two runs; ValueError where it cannot be told (said how to write it)."""
    rate = _RATE.fullmatch(schedule)
    if rate:
        return timedelta(minutes=int(rate.group(1)) * _UNITS[rate.group(2)])
    fields = schedule.removeprefix("cron(").removesuffix(")").split() if schedule.startswith("cron(") else []
    if len(fields) != 6:
        raise ValueError("must be rate(N minutes|hours) or cron(minutes hours * * ? *)")
    minutes, hours, day, month, weekday, year = fields
    if day not in ("*", "?") or month != "*" or weekday not in ("*", "?") or year != "*":
        raise ValueError("a cron must run every day (day-of-month, month, day-of-week and year * or ?)")
    if not re.fullmatch(r"[\d,*/-]+", minutes):
        raise ValueError("a cron's minutes must be numbers, ranges, lists or steps")
    runs = sorted(_hours(hours))
    # the gap from each hour run to the next, the last of the day to the first of the next
    gaps = [b - a for a, b in zip(runs, [*runs[1:], runs[0] + 24], strict=True)]
    return timedelta(hours=max(gaps))


def _hours(field: str) -> set[int]:
    found: set[int] = set()
    for part in field.split(","):
        matched = _HOURS_PART.fullmatch(part)
        if not matched:
            raise ValueError(f"a cron's hours must be numbers, ranges, lists or steps, not {part!r}")
        span, _, step = part.partition("/")
        first, _, last = span.partition("-")
        if step and int(step) == 0:
            raise ValueError(f"a cron's hours step must be above 0, not {part!r}")
        low = 0 if first == "*" else int(first)
        high = 23 if first == "*" or (step and not last) else int(last or first)
        if not 0 <= low <= high <= 23:
            raise ValueError(f"a cron's hours are 0 to 23, not {part!r}")
        found |= set(range(low, high + 1, int(step) if step else 1))
    return found
