"""Attack 37 (on 937d5a4, ``cli adjust --settle``): a8c82ff's bug, left for refunds kept before 937d5a4. "AWS lists
none a day after it was last sent" falls back, for a refund without ``sent``, to when it was FIRST kept (``at``). But
an earlier version sent an unanswered refund again on every ``adjust --send``, and each send rewrote its claims with
that send's time (``at`` on every claim, since 7c34e29): when it was last sent is kept, on its claims, and not read.

An earlier version keeps a refund of 09:00 (3.00) whose first send never reaches AWS; three days later it sends it
again as it was: AWS takes it, its answer is lost. The operator upgrades and runs ``adjust --settle --send`` a minute
later. AWS's list does not show the adjustment yet (a8c82ff's premise: AWS states no delay; played here by an AWS whose
list lags an hour); counted from the first keep, three days ago, "AWS never took it": the refund is forgotten with its
claims, and the next ``adjust --send`` over 09:00 and 10:00 refunds 09:00 again under a new token.

In-memory fakes of our interfaces. 09:00 (3.00) and 10:00 (1.50) over-billed: 4.50 is due back; 7.50 is refunded."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal

from operations.agreement_billing import BillingAdjustment, RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_atk37_settle_forgets_a_refund_whose_claims_a_run_wrote_after_its_sent import clock_of
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import (
    TEN,
    Aws,
    settle,
    two_hours,
)


@dataclass
class Lagging(Aws):
    """AWS whose answers are lost while ``lost``, and whose list does not show yet what it took while ``lagging``."""

    lost: bool = False
    lagging: bool = False
    unlisted: set[str] = field(default_factory=set)

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        answers = super().refund(entries)
        if self.lagging:
            self.unlisted |= {a.request_id for a in answers if a.request_id is not None}
        return [] if self.lost else answers

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        listed = super().adjustments_like(entry)
        return [a for a in listed if not (self.lagging and a.request_id in self.unlisted)]


def test_a_refund_an_earlier_version_sent_again_a_minute_before_settle_is_not_forgotten() -> None:
    world, _ = two_hours()
    world.book = aws = Lagging()
    world.adjust(until=HOUR)  # the earlier version's refund of 09:00: its first send never reaches AWS
    clock = clock_of(world)
    clock.set(SETTLED + timedelta(days=3))
    aws.down, aws.lost, aws.lagging = False, True, True
    world.adjust(until=HOUR)  # sent again as it was: AWS takes it (listed an hour later), its answer is lost
    (kept,) = world.claims.unanswered()
    # as the earlier version kept it: no ``sent``; when it was first kept, and its claims as this send wrote them
    world.claims.asked[kept.entry.client_token] = replace(kept, sent=None)
    assert kept.at == SETTLED
    assert aws.taken_amount() == Decimal("3.00")

    clock.set(SETTLED + timedelta(days=3, minutes=1))  # upgraded: settle a minute after that send
    rows = settle(world)
    aws.lost = aws.lagging = False
    for _ in range(2):
        world.adjust(until=TEN)

    # 09:00 refunded once (by the refund AWS took), 10:00 once: 4.50 for 4.50 over-billed
    shown = f"{aws.taken_amount()} refunded for 4.50 over-billed; settle: {[r['outcome'] for r in rows]}"
    assert aws.taken_amount() == Decimal("4.50"), shown
