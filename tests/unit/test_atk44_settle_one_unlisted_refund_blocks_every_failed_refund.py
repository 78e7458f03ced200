"""Attack 44 (on c38044c: "each answered refund asked of AWS on its own: one AWS will not say is shown not known and
stops none of the others"). Only the answered refunds' GetBillingAdjustmentRequest is asked on its own
(``outcomes_unheard``). Before it, ``settle`` reads AWS's adjustments of every *unanswered* refund
(``adjustments_like``: ListBillingAdjustmentRequests, then a Get of each alike) with nothing caught: one of those calls
AWS refuses (a throttle past botocore's retries, a Get of a listed adjustment AWS then says it does not know, as attack
43's test has it, an AccessDenied on one agreement) raises ``AgreementBillingUnavailable`` out of ``run_settle``. Every
answered refund AWS failed without its Failed event is then never asked of, on every run while that one refund stays
unanswered (a lost answer is settled only by this very call): their hours held for ever, what c38044c and 4afca33 were
made to end, and nothing of the run is shown.

In-memory fakes of our interfaces: 09:00 over-billed by 300 units (3.00), 10:00 by 150 (1.50), refunded apart and
answered; 11:00 by 75 (0.75), its refund's answer lost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from functions.flush.audit import TrailResult
from operations.agreement_billing import AgreementBillingUnavailable, BillingAdjustment, RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import outsiders
from tests.unit.test_atk43_settle_one_unknown_adjustment_blocks_every_failed_refund import (
    settle_run,
    two_answered_refunds,
    world_of_two_hours,
)

ELEVEN = HOUR + timedelta(hours=2)


def test_one_refund_aws_will_not_list_stops_none_of_the_answered_ones() -> None:
    world, aws = world_of_two_hours()
    refunds = two_answered_refunds(world, aws)
    aws.failed.add("ba-0")  # AWS fails the 09:00 refund (3.00); its Failed event is lost

    # the 11:00 refund is sent, and its answer lost
    world.home_trail.results.append(TrailResult(**{**outsiders(75, "m-eleven").__dict__, "hour": ELEVEN}))
    answered = aws.refund
    lost: list[RefundEntry] = []

    def answer_lost(entries: list[RefundEntry]) -> list[RefundOutcome]:
        lost.extend(entries)
        return [RefundOutcome(e.client_token, None, "INTERNAL_FAILURE", "answer lost") for e in entries]

    aws.refund = answer_lost  # type: ignore[method-assign]
    world.adjust(until=ELEVEN)
    aws.refund = answered  # type: ignore[method-assign]
    (eleven,) = lost

    def listed(entry: RefundEntry) -> list[BillingAdjustment]:
        if entry == eleven:  # AWS will not say of this one (throttled past retries, an adjustment it no longer knows)
            raise AgreementBillingUnavailable("ThrottlingException: Rate exceeded")
        return []

    aws.adjustments_like = listed  # type: ignore[attr-defined]

    runs = [settle_run(world) for _ in range(3)]  # settle, as the operator runs it, three days running
    world.adjust(until=ELEVEN)

    # 09:00 refunded nothing: asked for again under a token of its own, once (the 11:00 refund, sent again as it was
    # by adjust, is the same refund: its token)
    again = [(e.amount, e.client_token) for e in aws.refunded[2:] if e.client_token != eleven.client_token]
    assert [amount for amount, _ in again] == [Decimal("3.00")], (
        f"ba-0 (failed, 3.00) never asked for again; settle ended {[(code, stop) for code, _, stop in runs]}, "
        f"AWS asked of {aws.asked_of}"
    )
    assert again[0][1] != refunds["ba-0"].client_token
    # and the run says which one AWS would not tell of, exiting 1
    code, rows, stopped = runs[0]
    assert (code, stopped) == (1, "")
    assert any(r["client_token"] == eleven.client_token and "ThrottlingException" in r["outcome"] for r in rows)
