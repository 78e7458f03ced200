"""Review 30 (attack on 9234c41, ``billed_on``): an over-billed hour is refunded on an agreement that did not hold the
buyer's licence in it, though what the lifecycle store keeps says so (invariant 3: each hour on the invoice of an
agreement that held that buyer's licence at that hour; else named with why, nothing sent).

The agreement's Purchase Agreement Ended was heard before the hour began and its successor (a renewal) was not heard
yet: Marketplace billed the hour on an agreement we do not know (an ended agreement's licence takes no record of a
later hour), yet the hour is refunded on the ended one, where a later run, the renewal heard, finds it "refunded
before": never on the agreement that billed it.

The lifecycle is driven with AWS's published events (tests/fixtures/aws) through ``Lifecycle.handle``, in-memory
fakes only."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.customers.subjects import agreement_subject
from functions.settings import Dimension, Product, Settings
from operations.adjust import OverBilled, proposals
from operations.queries import OperationsDeps
from tests.fakes import InMemoryCustomers, InMemoryUsage
from tests.unit.test_adjust import Book
from tests.unit.test_estimates import Ledger
from tests.unit.test_lifecycle_rules import ACCOUNT, PRODUCT, T0, Buyer, World, subscribed

PRICED = Product(code=PRODUCT.code, name="P", dimensions=(Dimension("calls", price="0.01"),))


def _deps(customers: InMemoryCustomers, now: datetime) -> OperationsDeps:
    return OperationsDeps(Settings(products=(PRICED,)), customers, InMemoryUsage(), Ledger(), ManualClock(now))


def test_an_hour_after_the_agreement_ended_is_not_refunded_on_it_while_its_successor_is_unheard() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agreement A created and its licence updated at T0 (2026-11-26T10:00Z)
    # the buyer renews at 12:30: A's Purchase Agreement Ended is heard; the renewal's Created and License Updated are
    # not yet (held in the lifecycle queue's DLQ, or EventBridge slow): nothing links the renewal to the buyer
    world.clock.set(T0 + timedelta(hours=2, minutes=30))
    world.send(buyer, "ended_proposer.json")
    agreement = buyer.parties.agreement_id
    ended = world.customers.lifecycle_store.read([agreement_subject(agreement)])[agreement_subject(agreement)]
    assert ended.times.ending == T0 + timedelta(hours=2, minutes=30)  # the store knows A ended at 12:30
    # Marketplace billed 300 units more than due at 15:00, on the agreement holding the licence then (the renewal):
    # an ended agreement's licence takes no records of a later hour
    hour = T0.replace(hour=15)
    over = OverBilled(hour, PRODUCT.code, buyer.ref.license_arn or "", ACCOUNT, "calls", Decimal(300), Decimal(0))
    book = Book()
    found = proposals(_deps(world.customers, hour + timedelta(days=2)), [over], book, asked={})
    refunded_on_ended = [(p.agreement_id, p.amount) for p in found if p.amount is not None]
    # 3.00 (300 units at 0.01) proposed on the invoice of A, which did not hold the licence at 15:00
    assert refunded_on_ended == [], refunded_on_ended
    assert all(p.problem for p in found)
