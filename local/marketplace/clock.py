"""The emulator's settable clock.

It is an offset on top of real time rather than a frozen instant so that a moved clock keeps ticking:
code under test that sleeps or measures durations still sees time pass.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

# How far a moved clock may be from real time: far enough for any test or demo, near enough that datetime arithmetic
# everywhere (the app's too) stays in range.
MAX_OFFSET = timedelta(days=3660)


def clock_move(value: object) -> float:
    """``value`` as seconds to move a clock by: a finite JSON number within ``MAX_OFFSET``, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("advance_seconds must be a finite number of seconds")
    if abs(value) > MAX_OFFSET.total_seconds():
        raise ValueError(f"advance_seconds must be within {int(MAX_OFFSET.total_seconds())} seconds")
    return float(value)


def clock_time(value: object) -> datetime:
    """``value`` as a moment to set a clock to: ISO 8601, within ``MAX_OFFSET`` of real time, else ValueError."""
    moment = parse_iso(str(value))
    if abs(moment - datetime.now(UTC)) > MAX_OFFSET:
        raise ValueError(f"now must be within {MAX_OFFSET.days} days of real time")
    return moment


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def timestamp_param(value: Any) -> datetime:
    """A request's timestamp member as the protocol decoded it: a datetime, epoch seconds, or ISO text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return parse_iso(str(value))


def iso(value: datetime) -> str:
    """ISO-8601 UTC with a Z, second precision unless there are fractions (as AWS event payloads do)."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = offset_seconds

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return datetime.fromtimestamp(time.time() + offset, UTC)

    def set(self, when: datetime) -> None:
        with self._lock:
            self._offset = when.timestamp() - time.time()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def set_offset(self, offset_seconds: float) -> None:
        with self._lock:
            self._offset = offset_seconds

    def real(self) -> None:
        self.set_offset(0.0)

    def describe(self) -> dict[str, object]:
        offset = self.offset_seconds
        return {"now": iso(self.now()), "offset_seconds": offset, "real": offset == 0.0}
