"""Attack review 31: a refund AWS answered (its billing adjustment's id kept with it) is sent again by every later
``adjust --send`` whose window proposes the same hours, in every Region: the proposal's client token is its own claim's,
so it is not "refunded before" but sent again (a daily run over the default 7-day window sends one refund up to six
times). Only AWS's idempotency on ``clientToken`` keeps that from refunding the hour again, and AWS documents no
lifetime for it (the model: "Each entry requires a unique clientToken for idempotency"); once it lapses, or should AWS
answer a reused token with an error (the run then releases the claims of a refund AWS took, and the next window that
groups the hour with another refunds it under a new token), the hour is refunded twice. The claims already know AWS
took it. ``62f5da1`` asked exactly this ("run again: nothing is sent twice", each hour "refunded before");
``cb55cf0`` weakened it to "the same client token". Invariants 1 and 3; at stake: the whole refund, once per run
(here 3.00 over-billed in eu-west-1, 6.00 asked for in two runs, 9.00 in three)."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.test_adjust_other_regions import TwoRegions


def test_a_refund_aws_answered_is_never_sent_again() -> None:
    world = TwoRegions(home=None, away=300)
    code, _ = world.adjust()
    assert (code, [e.amount for e in world.book.refunded]) == (0, [Decimal("3.00")])
    _, rows = world.adjust()
    _, rows = world.adjust()
    # each entry sent is a refund asked for: only AWS's memory of the token stands between them and 9.00 refunded
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal("3.00"), rows
    assert all(r["outcome"].startswith("cannot refund: refunded before") for r in rows), rows
