"""Attack 42 (on cbf36bb: "a body the schema refuses now lists, as any refusal does, the events an earlier request
stored exactly as sent"). Not a body of more than ``MAX_EVENTS`` events: ``_alone`` gives up on it before parsing any
event, so a producer whose batcher packed a resend of e0 (its answer lost) with 100 new events is told "no event was
stored", e0 not among the duplicates, while e0 is stored and billed: attack 41's break again, for the one schema
refusal it left out. Each of those events is as easy to parse alone as any other (the body is at most 256 KiB)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.usage.ingest import UsageRejected, record_usage
from functions.usage.schema import MAX_EVENTS
from tests.fakes import InMemoryUsage
from tests.unit.test_usage_ingest_rules import NOW, SETTINGS, customers, event


def test_a_batch_over_the_limit_lists_the_events_an_earlier_request_stored() -> None:
    store, fake = InMemoryUsage(), customers()

    def send(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=ManualClock(NOW))

    send([event(0)])  # stored; its answer lost
    resend = [event(0)] + [event(n) for n in range(1, MAX_EVENTS + 1)]  # e0 again, beside 100 new events
    with pytest.raises(UsageRejected) as refusal:
        send(resend)
    assert any(e.field == "events" for e in refusal.value.errors)  # refused for its size
    assert [(e.event_id, e.quantity) for e in store.events.values()] == [("e0", Decimal(3))]  # billed, 3 units
    assert refusal.value.duplicates == ("e0",), "the refusal hid e0, which is stored and billed"
