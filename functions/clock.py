"""One clock for the app, injectable so tests and the local stack move time instead of waiting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    # composition roots are cached per (settings, clock): a clock is hashable, as every object is by default
    def __hash__(self) -> int: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


class OffsetClock:
    """Real time shifted by an offset: the local stack's compressed clock."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FileOffsetClock:
    """Real time shifted by the number of seconds written in a file: the local stack's movable clock.

    The file is read on every call so that moving time (``make run``'s "advance the clock") reaches every
    handler at once; only ever configured locally.
    """

    def __init__(self, path: str) -> None:
        self._path = path

    def now(self) -> datetime:
        try:
            with open(self._path) as offset:
                seconds = float(offset.read().strip() or 0)
        except FileNotFoundError:
            seconds = 0.0
        return datetime.now(UTC) + timedelta(seconds=seconds)


def app_clock(clock_file: str | None) -> Clock:
    """The app's one clock: the system's in AWS; a movable one where the local stack names a clock file."""
    return FileOffsetClock(clock_file) if clock_file else SystemClock()
