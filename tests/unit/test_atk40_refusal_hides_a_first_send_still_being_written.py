"""Attack 40 (on 30924d2): a refusal lists the events of its batch an earlier request stored as sent, "so a refusal
never hides usage that is billed" (docs/metering.md, Responses). It looks only at events already written
(``stored_before``: ``is_stored``): an event whose first send is still being written is not listed, though that write
lands and is billed.

The producer's first request [e0] is slow: its Lambda keeps e0's identity and starts the write, API Gateway gives up
at 29 s and the producer, its answer lost, sends e0 again 20 s later beside a new event that is refused. The refusal
says nothing of e0 ("no event was stored", e0 not in ``results``), then the first write lands: e0 is billed, 3 units,
while the only answer the producer has says it was not. A valid resend at the same moment would have been answered
``duplicate`` (once.py ``_duplicate`` writes the first send's item itself) or 503 Retry-After (``FirstSendInFlight``);
the refusal should do one of those too (a 503 is the honest one: whether the first write lands is not known yet)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.usage.ingest import UsageRejected, record_usage
from functions.usage.model import UsageEvent
from functions.usage.once import FirstSendInFlight
from tests.fakes import InMemoryUsage
from tests.unit.test_usage_ingest_rules import NOW, SETTINGS, customers, event


class SlowFirstWrite(InMemoryUsage):
    """The usage table while the first request's write of its events is still in flight: held until ``land``."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight: list[UsageEvent] = []
        self.holding = True

    def add(self, events: Sequence[UsageEvent]) -> list[bool]:
        if self.holding:
            self.holding = False
            self.in_flight = list(events)
            return [True] * len(events)
        return super().add(events)

    def land(self) -> None:
        super().add(self.in_flight)


def test_a_refusal_beside_a_first_send_still_being_written_does_not_say_it_was_not_stored() -> None:
    store, fake, clock = SlowFirstWrite(), customers(), ManualClock(NOW)

    def send(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=clock)

    send([event(0)])  # e0's identity kept, its write under way; the answer never reaches the producer
    clock.set(NOW + timedelta(seconds=20))
    told: tuple[str, ...] | None
    try:
        send([event(0), event(1, dimension="nope")])
        pytest.fail("a batch with an unknown dimension was accepted")
    except FirstSendInFlight:
        told = None  # "send it again in a minute": nothing said of e0 yet
    except UsageRejected as refusal:
        told = refusal.duplicates
    store.land()  # the first send's write lands, within IN_FLIGHT_MARGIN of its acceptance
    assert [(e.event_id, e.quantity) for e in store.stored()] == [("e0", Decimal(3))]  # billed, 3 units
    if told is None:  # told to retry: the retry, once the write has landed, names e0 stored
        clock.set(NOW + timedelta(seconds=90))
        with pytest.raises(UsageRejected) as retried:
            send([event(0), event(1, dimension="nope")])
        told = retried.value.duplicates
    assert told == ("e0",), "the refusal said e0 was not stored, yet it is billed"
