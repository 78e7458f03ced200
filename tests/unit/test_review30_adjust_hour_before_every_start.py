"""Review 30 (attack on 9234c41, ``billed_on``): an hour before every start the lifecycle store heard goes "on the
first" agreement, one that did not exist in the hour (invariant 3: each hour on the invoice of an agreement that held
that buyer's licence at that hour; else named with why, nothing sent).

A legacy product's customer identifier is reused when the buyer subscribes again (functions.customers.subscription):
the new subscription is a new agreement with its own licence, and registering again stores both on the customer, so
nothing leads from the customer to the agreement that held the licence before. Its hours are then refunded on the
new agreement's invoice of their month where there is one. In-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import agreement_subject, legacy_subject, licence_subject
from functions.customers.subscription import LifecycleKind
from functions.settings import Dimension, Product, Settings
from operations.adjust import OverBilled, proposals
from operations.queries import OperationsDeps
from tests.fakes import InMemoryCustomers, InMemoryLifecycleStore, InMemoryUsage
from tests.unit.test_adjust import Book
from tests.unit.test_estimates import Ledger

PRODUCT = Product(code="legacy-code", name="Legacy", dimensions=(Dimension("calls", price="0.01"),))
ACCOUNT = "845735284135"
FIRST, AGAIN = datetime(2026, 11, 2, 8, tzinfo=UTC), datetime(2026, 11, 20, 8, tzinfo=UTC)


def test_an_hour_before_the_only_known_agreement_started_is_not_refunded_on_it() -> None:
    # a legacy buyer (customer identifier) subscribed on Nov 2 (agreement A1, licence l-1), left on Nov 10, subscribed
    # again on Nov 20: Marketplace reuses the identifier; the new subscription is a new agreement A2 with its own
    # licence l-2, and registering again stores A2 and l-2 on the customer. Nothing leads from the customer to A1 now.
    store = InMemoryLifecycleStore()
    customers = InMemoryCustomers(store)
    ref = CustomerRef(PRODUCT.code, customer_identifier="cust-reused")
    customers.put(
        Customer(
            ref,
            ACCOUNT,
            SubscriptionState.ACTIVE,
            AGAIN,
            agreement_id="agmt-a2",
            legacy_license_arn="arn:aws:license-manager::1:license:l-2",
        )
    )
    legacy = legacy_subject(PRODUCT.code, "cust-reused")
    store.record(legacy, LifecycleKind.ACTIVATED, FIRST)
    store.record(legacy, LifecycleKind.ENDING, datetime(2026, 11, 10, tzinfo=UTC))
    store.record(legacy, LifecycleKind.ENDED, datetime(2026, 11, 10, 1, tzinfo=UTC))
    store.record(legacy, LifecycleKind.ACTIVATED, AGAIN)
    store.link(licence_subject("l-1"), "agmt-a1")
    store.record(agreement_subject("agmt-a1"), LifecycleKind.ACTIVATED, FIRST)
    store.record(agreement_subject("agmt-a1"), LifecycleKind.ENDING, datetime(2026, 11, 10, tzinfo=UTC))
    store.link(licence_subject("l-2"), "agmt-a2")
    store.record(agreement_subject("agmt-a2"), LifecycleKind.ACTIVATED, AGAIN)
    customer = customers.get(ref)
    assert customer is not None
    assert [(s.agreement_id, s.start) for s in customers.lifecycle(customer).spans] == [("agmt-a2", AGAIN)]
    # Nov 5 09:00, under A1: billed 300 units, 0 due (a duplicate of another sender's record); refunds asked on Nov 25
    hour = datetime(2026, 11, 5, 9, tzinfo=UTC)
    over = OverBilled(hour, PRODUCT.code, "cust-reused", ACCOUNT, "calls", Decimal(300), Decimal(0))
    book = Book()
    found = proposals(
        OperationsDeps(
            Settings(products=(PRODUCT,)), customers, InMemoryUsage(), Ledger(), ManualClock(AGAIN + timedelta(days=5))
        ),
        [over],
        book,
        asked={},
    )
    on = [(p.agreement_id, p.amount) for p in found if p.amount is not None]
    # 3.00 proposed on A2's November invoice for an hour twelve days before A2 existed
    assert on == [], on
    assert all(p.problem for p in found)
