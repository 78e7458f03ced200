"""An hour is refunded only once what was due in it is final (in-memory fakes).

Found by the simulator's refund worlds (seed 641): a leaving buyer's carry is placed in an hour of theirs while
Marketplace still takes records of it (24 hours back), and an hour not sealed yet has no record of ours at all: an
adjust run over such an hour took what AWS billed there as over-billed, and refunded the buyer's own usage. Until 25
hours after it (``PLACED_FROM``), an hour is named as not final yet, with when it will be."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from operations.adjust import proposals
from operations.reconcile import PLACED_FROM
from tests.unit.test_adjust import HOUR, Book, billed, deps


def test_an_hour_marketplace_still_takes_records_of_is_not_refunded_yet() -> None:
    world = deps(now=HOUR + PLACED_FROM - timedelta(minutes=1))
    (proposal,) = proposals(world, [billed(1200, 200)], Book())
    assert proposal.problem == (
        "what was due in it is not final while Marketplace takes records of it (a leaving buyer's usage may yet be "
        "placed there): refund it from 2026-11-27T10:00Z"
    )
    assert proposal.amount is None


def test_it_is_refunded_once_marketplace_takes_none() -> None:
    (proposal,) = proposals(deps(now=HOUR + PLACED_FROM), [billed(1200, 200)], Book())
    assert (proposal.problem, proposal.amount) == (None, Decimal("10.00"))
