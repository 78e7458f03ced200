"""Attack 37 (on 937d5a4, ``cli adjust --settle``): ``forget`` keeps a claim whose ``at`` is later than the refund's
``sent`` as settle read it ("a run claimed it again since"), and removes the refund when its ``sent`` is unchanged. But
``sent`` and the claims' ``at`` are written by separate puts, each run with its own ``now`` (taken once, when its send
begins, from its own clock), and nothing keeps them in step: two ``adjust --send`` runs sending the same unanswered
refund again at once (the cron's and an operator's) leave the refund's ``sent`` from one and its claims' ``at`` from
the other. Where the run whose ``now`` is the earlier (its clock a second behind, or it began its send first and
claimed other refunds before this one) writes the refund last and its claims before the other's, the claims are
later than ``sent``.

A day later AWS still lists nothing of it (it never took it): settle "forgets" it, the claims are kept (later than
``sent``: "claimed since") and the refund is removed (``sent`` unchanged). The hour is claimed by a token with no
refund kept: no settle run sees it again, and every ``adjust`` names it "refunded before" by that token, for ever:
attack 36's stuck hour, back through a race.

In-memory fakes of our interfaces (two operators' runs: each its own clock, one table of claims, one AWS); the
interleaving is played through ``InMemoryRefundClaims``' step hook, as the simulator does. 09:00 (3.00) and 10:00
(1.50) over-billed: 4.50 is due back; 1.50 is refunded, 09:00's 3.00 never."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.flush.audit import TrailResult
from tests.fakes import InMemoryRefundClaims
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import (
    TEN,
    settle,
    two_hours,
)


def clock_of(world: TwoRegions) -> ManualClock:
    clock = world.home.clock
    assert isinstance(clock, ManualClock)
    return clock


def test_two_runs_sending_a_refund_again_at_once_never_leave_its_hour_claimed_by_no_refund() -> None:
    world, aws = two_hours()
    between: dict[str, object] = {}

    def step(operation: str, phase: str) -> None:
        run = between.pop("run", None) if (operation, phase) == ("put_item", "after") else None
        if callable(run):
            run()

    world.claims = claims = InMemoryRefundClaims(step)
    world.adjust(until=HOUR)  # the refund of 09:00, kept and claimed; AWS down: not taken
    (kept,) = claims.unanswered()

    # a second operator's run: its own clock, the same table and AWS
    other = TwoRegions(home=300, away=None)
    other.home_trail.results.append(TrailResult(**{**outsiders(150, "m-later").__dict__, "hour": TEN}))
    other.claims, other.book = claims, aws

    # the next day both send it again at once (AWS still down); the other's clock reads a second before this one's
    clock_of(world).set(SETTLED + timedelta(hours=6, seconds=1))
    clock_of(other).set(SETTLED + timedelta(hours=6))
    between["run"] = lambda: other.adjust(until=HOUR)  # between this run's put of the refund and of its claims
    world.adjust(until=HOUR)
    assert "run" not in between  # the other run did run in between
    (again,) = claims.unanswered()
    assert again.entry.client_token == kept.entry.client_token
    assert aws.taken_amount() == 0

    # a day after its last send AWS lists nothing of it: settle forgets it; then AWS is up again
    clock_of(world).set(SETTLED + timedelta(days=1, hours=7))
    rows = settle(world)
    aws.down = False
    for _ in range(2):
        world.adjust(until=TEN)

    # AWS never took the first refund: 09:00 and 10:00 are refunded now, once each: 4.50
    shown = f"{aws.taken_amount()} refunded for 4.50 over-billed; settle: {rows}; claims left: {claims.claims}"
    assert aws.taken_amount() == Decimal("4.50"), shown
