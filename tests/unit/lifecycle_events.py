"""A subject's lifecycle times from the events it saw, merged as the lifecycle stores merge them: the lifecycle
attack tests' shared vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.customers.subscription import LifecycleKind, LifecycleTimes


def at(hour: int, minute: int = 0) -> datetime:
    """A time of the day these tests' buyers come and go (2026-11-26, UTC)."""
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def times_of(*events: tuple[LifecycleKind, datetime]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind, moment in events:
        times = times.merge(kind, moment)
    return times
