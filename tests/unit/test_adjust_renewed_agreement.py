"""A renewed buyer's refund goes on the invoice of the agreement that held their licence in the hour (the simulator's
refund worlds found it looked only at the agreement they registered with: in a later month "no invoice", in the
month of the renewal the old agreement's invoice for the new one's hours).

A renewal is a new agreement of the same licence (``intent: RENEW``), starting when it is created: in AWS's example
``time``, ``agreement.startTime`` and ``agreement.acceptanceTime`` are one moment (created_proposer_renew.json).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import agreement_subject, licence_subject
from functions.customers.subscription import LifecycleKind
from operations.adjust import OverBilled, proposals
from operations.queries import OperationsDeps
from tests.unit.test_adjust import AGREEMENT, HOUR, LICENCE, PRODUCT, SETTLED, Book, deps

RENEWAL = "agmt-renewal"
RENEWED_AT = HOUR.replace(hour=4, minute=30)  # 2026-11-26T04:30Z


def renewed(
    *, registered: str = AGREEMENT, started: bool = True, first_heard: bool = True, now: datetime = SETTLED
) -> OperationsDeps:
    """The buyer of tests.unit.test_adjust, registered with ``registered``, whose licence ``AGREEMENT`` held until
    ``RENEWAL`` replaced it at RENEWED_AT (its Purchase Agreement Created heard unless ``started`` is False)."""
    found = deps(now)
    customers = found.customers
    customers.put(  # type: ignore[attr-defined]
        Customer(
            ref=CustomerRef(PRODUCT.code, license_arn=LICENCE),
            customer_aws_account_id="111100000001",
            state=SubscriptionState.ACTIVE,
            state_changed_at=HOUR - timedelta(days=40),
            agreement_id=registered,
        )
    )
    events = customers.lifecycle_store  # type: ignore[attr-defined]
    if first_heard:
        events.record(agreement_subject(AGREEMENT), LifecycleKind.ACTIVATED, HOUR - timedelta(days=40))
    events.link(licence_subject("l-a"), AGREEMENT)
    events.link(licence_subject("l-a"), RENEWAL)
    events.link(agreement_subject(AGREEMENT), RENEWAL)
    if started:
        events.record(agreement_subject(RENEWAL), LifecycleKind.ACTIVATED, RENEWED_AT)
    return found


def over(hour: int, *, day: int = 26, month: int = 11, units: int = 300) -> OverBilled:
    at = HOUR.replace(month=month, day=day, hour=hour)
    return OverBilled(at, PRODUCT.code, LICENCE, "111100000001", "api_calls", Decimal(units), Decimal(0))


def test_hours_after_a_renewal_are_refunded_on_the_renewal_and_hours_before_it_on_the_agreement_it_replaced() -> None:
    book = Book()
    found = proposals(renewed(), [over(3), over(4), over(9)], book, asked={})
    on = {p.agreement_id: sorted(h.hour.hour for h in p.hours) for p in found}
    assert all(p.problem is None for p in found), [p.problem for p in found]
    # the hour the renewal began in is the renewal's: it held the licence when the hour's record was billed
    assert on == {AGREEMENT: [3], RENEWAL: [4, 9]}
    assert sorted((e.agreement_id, e.amount) for e in (p.entry() for p in found)) == [
        (AGREEMENT, Decimal("3.00")),
        (RENEWAL, Decimal("6.00")),
    ]


def test_a_later_months_hours_are_refunded_on_the_renewal() -> None:
    book = Book()
    (proposal,) = proposals(renewed(now=SETTLED + timedelta(days=10)), [over(9, day=3, month=12)], book, asked={})
    assert (proposal.problem, proposal.agreement_id, proposal.amount) == (None, RENEWAL, Decimal("3.00"))
    assert book.asked == [(RENEWAL, 2026, 12)]


def test_a_buyer_who_registered_after_the_renewal_is_refunded_on_the_agreement_of_each_hour() -> None:
    found = proposals(renewed(registered=RENEWAL), [over(3), over(9)], Book(), asked={})
    assert {p.agreement_id: [h.hour.hour for h in p.hours] for p in found} == {AGREEMENT: [3], RENEWAL: [9]}


def test_an_agreement_whose_start_was_never_heard_leaves_the_hour_unrefunded_and_says_why() -> None:
    book = Book()
    (proposal,) = proposals(renewed(started=False), [over(9)], book, asked={})
    assert (proposal.amount, book.asked) == (None, [])
    assert RENEWAL in str(proposal.problem)
    assert "no Purchase Agreement Created heard" in str(proposal.problem)


def test_an_agreement_never_heard_to_start_that_a_renewal_replaced_held_the_hours_before_the_renewal() -> None:
    """A buyer whose first agreement predates the deployment (its Created never heard): the renewal names it as the
    agreement it replaces, so it started before the renewal (review 30 noticed every hour was left unrefunded)."""
    found = proposals(renewed(first_heard=False), [over(3), over(9)], Book(), asked={})
    assert {p.agreement_id: [h.hour.hour for h in p.hours] for p in found} == {AGREEMENT: [3], RENEWAL: [9]}
    assert all(p.problem is None for p in found)
