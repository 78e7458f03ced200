"""Small shared bits for the emulator tests."""

from __future__ import annotations

from datetime import UTC, datetime

# A fixed emulator time in the middle of a month, far from the month-end rule.
NOW = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
