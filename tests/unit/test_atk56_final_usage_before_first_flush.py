"""Attack 56 on 5a043fc: a leaving buyer's final-usage step (functions/flush/customer.py) sends records live outside
the flush and never begins the reconciliation (``begin_reconciliation`` is called by the live flush only). On a new
stack whose flush has not run yet (its schedule out, as seed 43633's own regression test supposes, or each run dying
before it begins), the step sends every hour of the buyer's still in Marketplace's window. The first flush, a day
later, begins the reconciliation at ``hour_of(now - 24h)``: the hours the step sent before that are never reconciled
(invariant: every hour with records sent live is reconciled exactly once). The step's ``write_pending`` cannot move
a mark that was never written, and the unsent mark has no hour either, so ``first`` does not see them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from functions.customers.model import SubscriptionState
from functions.flush.audit import HourReconciled
from functions.flush.customer import send_customer_usage
from functions.flush.service import flush
from tests.fakes import LoggedMarketplace
from tests.unit.review23_world import World, hour

DAY = timedelta(days=1)


def test_hours_a_leaving_buyers_final_usage_sent_before_the_first_flush_are_reconciled() -> None:
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    world.ledger.next_hour = None  # a new stack: no flush has run yet (its schedule out)
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)
    world.subscribe()
    for h in (9, 10, 11, 12):
        world.clock.set(hour(h, 10))
        assert world.record(world.usage_event(f"u{h}", h)).accepted == (f"u{h}",)
    # the buyer leaves; their final-usage step runs at 12:40, in live mode, with no flush ever run
    world.clock.set(hour(12, 40))
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(12, 30))
    report = send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    assert (report.sent, report.failed) == (4, 0)
    assert world.billed_hours() == {hour(9): 9, hour(10): 10, hour(11): 11, hour(12): 12}
    # (fixed: the step begins the reconciliation before it sends, at its first hour or 24 hours back)
    assert world.ledger.reconciled == hour(12) - DAY

    # the flush's schedule is back the next day: the reconciliation stays where it began
    world.clock.set(hour(11, 6) + DAY)
    flush(world.deps, remaining_ms=lambda: 900_000)
    assert world.ledger.reconciled == hour(12) - DAY

    reported: list[HourReconciled] = []
    for later in (hour(15) + DAY, hour(18) + DAY):
        world.clock.set(later)
        world.reconcile(later, lambda: False, reported.append)
    reconciled = [r.hour for r in reported]
    sent_live = {
        e.record.hour for h in (9, 10, 11, 12) for e in world.ledger.entries_of_hour(hour(h)) if e.status == "sent"
    }
    assert sent_live == {hour(9), hour(10), hour(11), hour(12)}
    never = sorted(h for h in sent_live if h not in reconciled)
    assert never == [], f"hours sent live and never reconciled: {[h.isoformat() for h in never]}"
    assert all(reconciled.count(h) == 1 for h in sent_live)
    assert all(r.findings == [] for r in reported)
