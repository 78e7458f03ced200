"""Attack 43 (on 4afca33, ``cli adjust --settle`` asking AWS of every answered refund no outcome event was kept of):
``failed_unheard`` calls GetBillingAdjustmentRequest once per such refund, in token order, and the first call AWS
refuses (``ResourceNotFoundException``: an adjustment or agreement AWS no longer knows; or a throttle: the billing
client retries nothing, ``target._REFUNDS``) raises ``AgreementBillingUnavailable`` out of ``run_settle``. For a
request id AWS no longer knows that is every run, for ever: every answered refund after it in token order is never
asked, so one of them AWS failed, whose Failed event was lost, holds its hours for ever, exactly what the change was
made to end. And what the same run already kept (an answer found, a refund voided) is never shown: the run's rows
are lost with the exception, and the next run no longer lists them.

In-memory fakes of our interfaces: 09:00 over-billed by 300 units (3.00), 10:00 by 150 (1.50), refunded apart."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.flush.audit import TrailResult
from operations.adjust_cli import run_settle
from operations.agreement_billing import AgreementBillingUnavailable, BillingAdjustment, RefundEntry, RefundOutcome
from tests.fakes import InMemoryCustomers
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders
from tests.unit.test_settle_failed_unheard import FailsQuietly

TEN = HOUR + timedelta(hours=1)


@dataclass
class ForgetsSome(FailsQuietly):
    """AWS's Agreement Service: it fails the refunds of ``failed`` without an event, and no longer knows the
    adjustments of ``gone`` (GetBillingAdjustmentRequest: ResourceNotFoundException, as our client maps it)."""

    gone: set[str] = field(default_factory=set)

    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment:
        if request_id in self.gone:
            self.asked_of.append(request_id)
            raise AgreementBillingUnavailable(
                f"ResourceNotFoundException: Billing adjustment request {request_id} not found for agreement "
                f"{agreement_id}"
            )
        return super().adjustment(agreement_id, request_id)


def world_of_two_hours() -> tuple[TwoRegions, ForgetsSome]:
    world = TwoRegions(home=300, away=None)
    customers = world.home.customers
    assert isinstance(customers, InMemoryCustomers)
    world.home = replace(world.home, notices=customers)  # the outcome events the lifecycle kept
    world.target = replace(world.target, deps=world.home, keep_notice=customers.lifecycle_store.record_notice)
    world.book = aws = ForgetsSome()
    return world, aws


def two_answered_refunds(world: TwoRegions, aws: ForgetsSome) -> dict[str, RefundEntry]:
    """09:00 refunded (3.00), then 10:00 (1.50) by a refund of its own: by request id."""
    assert world.adjust()[0] == 0
    later = outsiders(150, "m-later")
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": TEN}))
    assert world.adjust(until=TEN)[0] == 0
    first, second = aws.refunded
    assert (first.amount, second.amount) == (Decimal("3.00"), Decimal("1.50"))
    return {"ba-0": first, "ba-1": second}


def settle_run(world: TwoRegions) -> tuple[int | None, list[dict[str, Any]], str]:
    """cli adjust --settle --send: its exit, its rows, and the error it stopped on (as cli.main shows it)."""
    out = io.StringIO()
    try:
        code = run_settle(argparse.Namespace(send=True, json=True), world.target, out, lambda rows, columns: "")
    except AgreementBillingUnavailable as error:
        return None, [], str(error)
    return code, list(json.loads(out.getvalue())["refunds"]), ""


def test_an_adjustment_aws_no_longer_knows_never_stops_settle_finding_another_refund_aws_failed() -> None:
    world, aws = world_of_two_hours()
    refunds = two_answered_refunds(world, aws)
    # AWS fails both without an event; the one settle asks first (token order) it no longer knows
    first_asked = min(refunds, key=lambda request_id: refunds[request_id].client_token)
    other = next(request_id for request_id in refunds if request_id != first_asked)
    aws.failed |= set(refunds)
    aws.gone.add(first_asked)

    stops = [settle_run(world)[2] for _ in range(3)]  # settle, as the operator runs it, three days running
    world.adjust(until=TEN)

    # the other refund refunded nothing: its hour is asked for again, under a token of its own, once
    again = [(e.amount, e.client_token) for e in aws.refunded[2:]]
    assert [amount for amount, _ in again] == [refunds[other].amount], (
        f"{other} (failed, {refunds[other].amount}) never asked for again: settle stopped on {stops}; "
        f"AWS asked of {aws.asked_of}"
    )
    assert again[0][1] != refunds[other].client_token


def test_what_settle_kept_before_a_get_aws_refused_is_shown() -> None:
    world, aws = world_of_two_hours()
    refunds = two_answered_refunds(world, aws)
    aws.gone |= set(refunds)  # AWS no longer knows the adjustments of either (or throttles the Get)

    # a third refund (11:00, 0.75) whose answer was lost: AWS took it; settle finds it by its description
    eleven = HOUR + timedelta(hours=2)
    world.home_trail.results.append(TrailResult(**{**outsiders(75, "m-eleven").__dict__, "hour": eleven}))
    taken: list[RefundEntry] = []

    def lost(entries: list[RefundEntry]) -> list[RefundOutcome]:
        taken.extend(entries)
        return [RefundOutcome(e.client_token, None, "INTERNAL_FAILURE", "answer lost") for e in entries]

    aws.refund = lost  # type: ignore[method-assign]
    world.adjust(until=eleven)
    (lost_one,) = taken
    assert lost_one.amount == Decimal("0.75")

    def listed(entry: RefundEntry) -> list[BillingAdjustment]:
        return [
            BillingAdjustment("ba-2", e.invoice_id, e.amount, e.currency, "COMPLETED", e.description, SETTLED)
            for e in taken
            if e == entry
        ]

    aws.adjustments_like = listed  # type: ignore[attr-defined]
    _, rows, stopped = settle_run(world)
    kept = world.claims.answers()
    assert kept.get("ba-2") == lost_one.client_token  # settle kept AWS's answer to it
    # ...and says so: the operator sees what this run decided (the next run lists it no more)
    shown = [r for r in rows if r["client_token"] == lost_one.client_token]
    assert shown, f"kept ba-2 for it, shown {rows}, stopped on {stopped!r}"
    assert "ba-2" in shown[0]["outcome"]
