"""Review 30 (attack on 9234c41, ``billed_on``): a renewal's start is taken to be when its Purchase Agreement Created
was sent, but a future-dated agreement (FDA) is created when the buyer accepts it and starts later: DescribeAgreement's
``acceptanceTime`` "and StartTime can differ for future dated agreements (FDAs)" (botocore's marketplace-agreement
model; the buyer guide's "Future dated agreements": the agreement is created, and its id made, on the signing date;
the licence is activated on the start date). The event carries both in ``agreement.acceptanceTime`` and
``agreement.startTime``; our parser keeps neither.

So an hour between a renewal's acceptance and its start, billed on the agreement it replaces (which holds the licence
until then), is refunded on the renewal's invoice (invariant 3). Driven with AWS's published events through
``Lifecycle.handle``; in-memory fakes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.lifecycle.notifications import parse_notification
from functions.settings import Dimension, Product, Settings
from operations.adjust import OverBilled, proposals
from operations.queries import OperationsDeps
from tests.aws_corpus import eventbridge_example
from tests.fakes import InMemoryUsage
from tests.unit.test_adjust import Book
from tests.unit.test_estimates import Ledger
from tests.unit.test_lifecycle_rules import ACCOUNT, PRODUCT, T0, Buyer, World, subscribed

PRICED = Product(code=PRODUCT.code, name="P", dimensions=(Dimension("calls", price="0.01"),))
RENEWAL = "agmt-futuredatedrenewal00000"


def _text(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_hour_before_a_future_dated_renewal_starts_is_refunded_on_the_agreement_that_held_the_licence() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agreement A from 2026-11-26T10:00Z
    # on Nov 26 at 12:00 the buyer accepts a renewal starting on Nov 28 at 00:00 (a future-dated agreement)
    accepted, starts = T0.replace(hour=12), T0.replace(day=28, hour=0)
    world.clock.set(accepted)
    event = eventbridge_example(
        "created_proposer_renew.json", buyer.parties.with_(renewal_agreement_id=RENEWAL), at=accepted
    )
    event["detail"]["agreement"].update(acceptanceTime=_text(accepted), startTime=_text(starts))
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=accepted))
    # Nov 27 09:00: A still holds the licence (the renewal starts tomorrow); Marketplace billed 300 units over
    hour = T0.replace(day=27, hour=9)
    over = OverBilled(hour, PRODUCT.code, buyer.ref.license_arn or "", ACCOUNT, "calls", Decimal(300), Decimal(0))
    deps = OperationsDeps(
        Settings(products=(PRICED,)), world.customers, InMemoryUsage(), Ledger(), ManualClock(hour + timedelta(days=2))
    )
    found = proposals(deps, [over], Book(), asked={})
    # 3.00 proposed on the renewal's November invoice for an hour it did not hold (A's)
    assert [(p.agreement_id, p.amount, p.problem) for p in found] == [
        (buyer.parties.agreement_id, Decimal("3.00"), None)
    ]
