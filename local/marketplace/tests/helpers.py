"""Small shared bits for the emulator's own tests (they run from its repository and from an installed copy)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

# The emulator's own package, as this copy is imported: ``local.marketplace`` in its repository,
# ``marketplace_emulator`` once installed; and the folder it is imported from.
PACKAGE = __package__.rpartition(".")[0]
PACKAGE_ROOT = Path(__file__).resolve().parents[len(PACKAGE.split(".")) + 1]

# A fixed emulator time in the middle of a month, far from the month-end rule.
NOW = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
