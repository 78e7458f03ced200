"""What the simulator's invariants accept as explained: a record refused at the month-end cutoff only when no flush
run could have sent it (Marketplace down from the first run after it was stored to the last run before 06:00 UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

from functions.flush.records import MeteringRecord
from sim.invariants import down_at_the_cutoff
from sim.plan import Action
from sim.world import World

DECEMBER_LAST_HOUR = datetime(2026, 12, 31, 23, tzinfo=UTC)
JANUARY_FIRST = datetime(2027, 1, 1, tzinfo=UTC)
CUTOFF = JANUARY_FIRST + timedelta(hours=6)
RECORD = MeteringRecord(
    "p#c#calls", DECEMBER_LAST_HOUR, "p", "c", "123456789012", "calls", Decimal(7), integer=True, license_arn="c"
)
# the month-end schedule's runs (every 10 minutes from 00:00 to 05:50), then the hourly one at 06:12
RUNS = (*(JANUARY_FIRST + timedelta(minutes=10 * n) for n in range(36)), CUTOFF + timedelta(minutes=12))


@dataclass
class _Plan:
    incident: tuple[datetime, datetime] | None
    actions: tuple[Action, ...] = tuple(Action(n, at, "flush", scheduled=True) for n, at in enumerate(RUNS))


@dataclass
class _Ledger:
    stored_at: dict[tuple[datetime, str], datetime] = field(default_factory=dict)
    parked_at: dict[tuple[datetime, str], datetime] = field(default_factory=dict)


@dataclass
class _World:
    plan: _Plan
    ledger: _Ledger


def _world(incident: tuple[str, str] | None, stored: str, parked: str) -> World:
    def at(text: str) -> datetime:
        day, clock = text.split()
        return datetime.fromisoformat(f"2027-01-0{day}T{clock}:00+00:00")

    key = (RECORD.hour, RECORD.key)
    ledger = _Ledger({key: at(stored)}, {key: at(parked)})
    return cast(World, _World(_Plan((at(incident[0]), at(incident[1])) if incident else None), ledger))


def test_a_record_stored_while_marketplace_was_down_through_the_last_run_before_the_cutoff_is_explained() -> None:
    # a leaving buyer's carry placed into December's last hour at 04:35, Marketplace down 04:30-06:05
    assert down_at_the_cutoff(_world(("1 04:30", "1 06:05"), stored="1 04:35", parked="1 06:12"), RECORD)
    # down from just before the first run after it was stored (04:40) to just after 05:50
    assert down_at_the_cutoff(_world(("1 04:39", "1 05:51"), stored="1 04:35", parked="1 06:12"), RECORD)


def test_a_record_a_run_could_have_sent_is_not_explained_by_marketplacedown_at_the_cutoff() -> None:
    # stored at 00:10 (the hour sealed), Marketplace answering until 04:11: the runs from 00:20 on could send it
    assert not down_at_the_cutoff(_world(("1 04:11", "1 06:04"), stored="1 00:10", parked="1 06:12"), RECORD)
    # Marketplace back at 05:50: the last run before the cutoff could send it
    assert not down_at_the_cutoff(_world(("1 04:30", "1 05:50"), stored="1 04:35", parked="1 06:12"), RECORD)
    # down only from 05:56: the 05:50 run found it answering
    assert not down_at_the_cutoff(_world(("1 05:56", "1 06:37"), stored="1 05:45", parked="1 06:12"), RECORD)
    # no incident at all
    assert not down_at_the_cutoff(_world(None, stored="1 04:35", parked="1 06:12"), RECORD)


def test_a_record_parked_before_the_cutoff_is_not_explained_by_it() -> None:
    # parked at 00:10, hours before Marketplace went down and before the cutoff refuses anything
    assert not down_at_the_cutoff(_world(("1 00:05", "1 06:05"), stored="1 00:10", parked="1 00:10"), RECORD)
