"""Attack 41 (on 05401fe, which has a refused batch list as ``duplicate`` every id an earlier request stored exactly as
sent, "so a refusal never hides usage that is billed", docs/metering.md). Only refusals made by ``ingest``'s rules
do: an event that the wire schema refuses (a negative quantity, an event id with a space, a field the contract does
not have, an event without its timestamp) refuses the batch in ``parse_batch``, before any event is looked up, and
the refusal lists nothing. A producer resending e0 after a lost answer, beside such an event, is told "no event was
stored" with e0 not among the duplicates, while e0 is stored and billed: 3 units."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryUsage
from tests.unit.test_usage_ingest_rules import NOW, SETTINGS, customers, event


@pytest.mark.parametrize(
    "bad",
    [
        event(1, quantity=-1),  # 422, as an unknown dimension is
        event(1, event_id="e 1"),
        {**event(1), "note": "not in the contract"},
        {k: v for k, v in event(1).items() if k != "timestamp"},  # 400 "malformed"
    ],
    ids=["negative-quantity", "bad-event-id", "extra-field", "no-timestamp"],
)
def test_a_schema_refusal_lists_the_events_an_earlier_request_stored(bad: dict[str, Any]) -> None:
    store, fake = InMemoryUsage(), customers()

    def send(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=ManualClock(NOW))

    send([event(0)])  # stored; its answer lost
    with pytest.raises(UsageRejected) as refusal:  # the resend, beside an event the schema refuses
        send([event(0), bad])
    assert [(e.event_id, e.quantity) for e in store.events.values()] == [("e0", Decimal(3))]  # billed, 3 units
    assert refusal.value.duplicates == ("e0",), "the refusal hid e0, which is stored and billed"


def test_beside_a_rule_refusal_the_same_resend_is_listed() -> None:
    # the same resend beside an unknown dimension (ingest's rules): listed, as the schema refusals above should
    store, fake = InMemoryUsage(), customers()

    def send(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=ManualClock(NOW))

    send([event(0)])
    with pytest.raises(UsageRejected) as refusal:
        send([event(0), event(1, dimension="nope")])
    assert refusal.value.duplicates == ("e0",)
