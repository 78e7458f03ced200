"""Review 24b: 'Customer Activated' is claimed before it is published (fix c2f7d9c), so an invocation that ends
between the claim and the publish (the Lambda's timeout, its sandbox killed: neither PublishFailed nor the release
runs) leaves the claim standing and the event never sent. The buyer's next registration reads "announced already"
and stays silent, and the lifecycle announced nothing (the subscription was confirmed before the buyer registered,
when there was no customer). The seller never provisions a paying buyer. Invariant broken: no seller event lost.
Before the fix the order was publish-then-mark, so the same crash repeated the event instead of losing it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.registration.resolution import ResolvedCustomer
from functions.registration.service import Registrations
from functions.seller_events import CUSTOMER_ACTIVATED, DomainEvent
from functions.settings import Dimension, Product
from tests.fakes import FakeAgreementTerms, FakeResolver, InMemoryCustomers

PRODUCT = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),))
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")


class InvocationKilled(BaseException):
    """The Lambda runtime ends the invocation (its timeout): no except clause of ours runs."""


class Bus:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.kill_on_activation = True

    def publish(self, event: DomainEvent) -> None:
        if event.detail_type == CUSTOMER_ACTIVATED and self.kill_on_activation:
            self.kill_on_activation = False
            raise InvocationKilled("Task timed out after 29.00 seconds")
        self.events.append(event)


def test_an_invocation_ended_between_claim_and_publish_does_not_lose_customer_activated() -> None:
    store = InMemoryCustomers()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    store.stored[ref.key] = Customer(
        ref=ref,
        customer_aws_account_id="111122223333",
        state=SubscriptionState.ACTIVE,
        state_changed_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
    )
    bus = Bus()
    service = Registrations(
        resolver=FakeResolver(RESOLVED),
        agreement_terms=FakeAgreementTerms(),
        customers=store,
        publisher=bus,
        clock=ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        signing_secret=lambda: "secret",
        products=(PRODUCT,),
        completion_ttl_seconds=600,
    )
    with pytest.raises(InvocationKilled):
        service.register("first-token", free_trial_claimed=False)
    # the buyer comes back from AWS Marketplace ("Set up your account" again: a new token), the bus works
    service.register("second-token", free_trial_claimed=False)

    assert [e.detail_type for e in bus.events].count(CUSTOMER_ACTIVATED) == 1, [e.detail_type for e in bus.events]
    # (fix) published, then marked: the mark stands now, and the event carries the seller's dedupe key
    assert store.stored[ref.key].announced_activation == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    (activated,) = [e for e in bus.events if e.detail_type == CUSTOMER_ACTIVATED]
    assert activated.detail["event_id"]
