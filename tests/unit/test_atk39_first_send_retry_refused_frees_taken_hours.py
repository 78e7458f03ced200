"""Attack 39 (on f0e18c3): attack 38's premise, applied to a first send. f0e18c3 holds a resend AWS refuses outright
(VALIDATION_EXCEPTION): the refusal may answer botocore's retry of a try AWS took, AWS looking at the room left before
the token. A first send is no different: botocore's standard retries (operations/agreement_billing.py) send the same
entry again when a try's answer is lost, AWS takes the first try (the invoice's room shrinks by it) and refuses the
retry over maxAdjustmentAmount. ``_send`` reads a first send refused outright as "nothing refunded" and releases it
(operations/adjust_cli.py ``_send``: ``not resending and found.error_code in REFUSED`` -> ``claims.release``): the
kept refund and its claims are deleted, so no settle ever asks AWS about it, and the next ``adjust --send`` refunds
the hour again under a new token, capped at the room the taken refund left.

In-memory fakes of our interfaces. 09:00 over-billed 3.00; the invoice allows 4.00. 3.00 is due back; 4.00 is
refunded (the refund AWS took, 3.00, and a second one of the same hour, 1.00)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk37_settle_forgets_a_refund_whose_claims_a_run_wrote_after_its_sent import clock_of
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import settle
from tests.unit.test_atk38_unsent_forgets_a_send_aws_took import RoomFirst


def test_a_first_send_whose_first_try_aws_took_is_not_released_by_its_retrys_refusal() -> None:
    world = TwoRegions(home=300, away=None)  # 09:00: 3.00 over-billed
    world.book = aws = RoomFirst(down=False, retried=True)  # type: ignore[assignment]
    _, rows = world.adjust(until=HOUR)  # first try taken (room now 1.00), its answer lost; the retry refused
    assert any(r["outcome"].startswith("refused: VALIDATION_EXCEPTION") for r in rows), rows
    assert aws.taken_amount() == Decimal("3.00")

    # the operator settles as told, a day later, then the daily adjust runs
    clock = clock_of(world)
    outcomes: list[str] = []
    for day in (1, 2):
        clock.set(SETTLED + timedelta(days=day, hours=1))
        outcomes += [r["outcome"] for r in settle(world)]
        world.adjust(until=HOUR)

    # 09:00 refunded once, by the send AWS took: 3.00 for 3.00 over-billed
    shown = f"{aws.taken_amount()} refunded for 3.00 over-billed ({list(aws.taken)}); settle said {outcomes}"
    assert aws.taken_amount() == Decimal("3.00"), shown
