"""Attack 40 (on 30924d2): an event counts once per customer and id, so two buyers' events may carry one id (a
producer numbering each tenant's requests from 1, say). A refusal lists the events an earlier request stored by id
alone (``UsageRejected.duplicates``, the answer's ``results``: ``{"event_id": ..., "status": "duplicate"}``) and
drops repeats (``dict.fromkeys``): a batch holding buyer A's e0, stored an hour ago, and buyer B's e0, new, refused
for a third event, answers ``e0: duplicate`` once. The producer (``usage_client`` keeps ``duplicates`` as ids) cannot
tell which e0 is stored, and both read as stored: B's e0, never stored, is not sent again and is never billed.

Before 30924d2 only refused events were looked up, so this needed A's e0 itself refused; now any valid resend does.
A listed duplicate has to say which event of the batch it is (its index, ``events[i]``, as errors do)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryUsage
from tests.unit.test_usage_ingest_rules import NOW, SETTINGS, customers, event

OTHER_LICENCE = "arn:aws:license-manager::294406891311:license:l-0002"
OTHER_ACCOUNT = "444455556666"


def test_a_refusal_never_lists_as_stored_an_id_whose_event_of_another_buyer_is_not_stored() -> None:
    store, fake = InMemoryUsage(), customers()
    fake.put(Customer(CustomerRef("p", license_arn=OTHER_LICENCE), OTHER_ACCOUNT, SubscriptionState.ACTIVE, NOW))

    def send(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=ManualClock(NOW))

    send([event(0)])  # buyer A's e0, stored (its answer lost)
    others = event(0, license_arn=OTHER_LICENCE, customer_aws_account_id=OTHER_ACCOUNT, quantity=5)
    batch = [event(0), others, event(2, dimension="nope")]
    with pytest.raises(UsageRejected) as refused:
        send(batch)
    stored = {(e.customer_key, e.event_id) for e in store.stored()}
    assert stored == {(f"LICENSE#{event(0)['license_arn']}", "e0")}  # B's e0 is not stored
    # every event of the batch that a listed id names is stored: B's e0 is named by "e0" too, and is not
    named = [e for e in batch if e["event_id"] in refused.value.duplicates]
    unstored = [e["license_arn"] for e in named if (f"LICENSE#{e['license_arn']}", e["event_id"]) not in stored]
    assert unstored == [], "the refusal told B's e0, never stored, is stored (listed by id alone)"
