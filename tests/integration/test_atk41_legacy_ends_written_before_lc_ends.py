"""Attack 41 (on d21e48b, which keeps every end of a subject in ``lc_ends``): an item written before that change holds
its earlier leave only as ``lc_ending`` / ``lc_ended``, the latest times, which the next leave overwrites (a
conditional ``SET``); nothing copies them into ``lc_ends`` first. So a legacy buyer who subscribed at 09, left at 10
(unsubscribe-success 11) and came back at 12, all before the deploy, reads once they leave again after it (pending 14,
success 15) with no end before 12: their subscription seems to have started at 09, as before the fix (simulator seed
189228): usage stamped between their subscriptions is theirs, and the final-usage step places their last hour's
carry into hours from 09 (``placed_carries``), which were not theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.customers.lifecycle_store import LIFECYCLE_SK, DynamoLifecycleStore
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.customers.subjects import legacy_subject
from functions.customers.subscription import LifecycleKind
from functions.settings import Settings
from functions.storage.times import time_text

DAY = datetime(2026, 11, 26, tzinfo=UTC)


def _at(hour: int) -> datetime:
    return DAY + timedelta(hours=hour)


def test_a_legacy_buyer_back_before_the_deploy_and_leaving_after_it_keeps_their_second_subscriptions_start(
    dynamodb: Any, settings: Settings
) -> None:
    repository = DynamoCustomerRepository(dynamodb, settings.customers_table)
    lifecycle = DynamoLifecycleStore(dynamodb, settings.customers_table)
    ref = CustomerRef("prod1", customer_identifier="back-before-deploy")
    repository.put(Customer(ref, "123456789012", SubscriptionState.PENDING, DAY, registered_at=DAY))
    subject = legacy_subject("prod1", "back-before-deploy")
    # Given their lifecycle item as the code before d21e48b wrote it: subscribed 09, left 10 (success 11), back at 12
    dynamodb.put_item(
        TableName=settings.customers_table,
        Item={
            "pk": {"S": subject},
            "sk": {"S": LIFECYCLE_SK},
            "lc_activations": {"SS": [time_text(_at(9)), time_text(_at(12))]},
            "lc_activated": {"S": time_text(_at(12))},
            "lc_ending": {"S": time_text(_at(10))},
            "lc_ended": {"S": time_text(_at(11))},
        },
    )
    before = repository.get(ref)
    assert before is not None
    assert (before.subscribed_at, before.state) == (_at(12), SubscriptionState.ACTIVE)  # read right before
    # When, after the deploy, they leave again: unsubscribe-pending at 14, unsubscribe-success at 15
    lifecycle.record(subject, LifecycleKind.ENDING, _at(14))
    lifecycle.record(subject, LifecycleKind.ENDED, _at(15))
    # Then their subscription still started at 12: 09-12 was their first subscription and the time between
    after = repository.get(ref)
    assert after is not None
    assert after.state is SubscriptionState.ENDED
    assert after.subscribed_at == _at(12), "the leave of 10-11 was overwritten: their start reads as their first's"
