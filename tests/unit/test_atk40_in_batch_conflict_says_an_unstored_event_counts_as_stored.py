"""Attack 40 (on 30924d2, whose own test sends such a batch): a batch that names one event id twice with other
content is refused as a conflict within the batch, and nothing of it is stored ("within the batch: nothing was
claimed"). Its error reuses the message of a conflict with what was stored before: "event e3 was stored before with
quantity 3, and counts as stored: ... send new usage under a new id". e3 was never stored, and its refusal's
``results`` (the events that are stored, 30924d2) leave it out: the answer contradicts itself, and a producer that
believes the error (e3, 3 units, counts as stored) drops it: usage never billed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryUsage
from tests.unit.test_usage_ingest_rules import NOW, SETTINGS, customers, event


def test_an_event_id_twice_in_one_batch_is_not_said_to_be_stored() -> None:
    store = InMemoryUsage()
    with pytest.raises(UsageRejected) as refused:
        record_usage(
            [event(3), event(3, quantity=9)],
            settings=SETTINGS,
            customers=customers(),
            store=store,
            clock=ManualClock(NOW),
        )
    assert (refused.value.kind, store.stored(), refused.value.duplicates) == ("conflict", [], ())
    ((field, message),) = [(e.field, e.message) for e in refused.value.errors]
    assert field == "events[1].quantity"
    claims = [words for words in ("was stored before", "counts as stored") if words in message]
    assert claims == [], f"nothing was stored, yet the refusal says: {message}"


def test_an_event_id_twice_in_one_batch_is_not_said_stored_as_the_version_that_is_not() -> None:
    """The same message when one version is stored: e3 stored with quantity 9, sent again beside a version with 3
    ahead of it. The refusal blames the stored version (events[1]) and says e3 "was stored before with quantity 3,
    and counts as stored": 9 is stored and billed, 3 never was."""
    store, fake = InMemoryUsage(), customers()

    def send(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=ManualClock(NOW))

    send([event(3, quantity=9)])
    with pytest.raises(UsageRejected) as refused:
        send([event(3), event(3, quantity=9)])
    assert [e.quantity for e in store.stored()] == [Decimal(9)]
    messages = [e.message for e in refused.value.errors]
    assert [m for m in messages if "stored before with quantity 3" in m] == [], messages
