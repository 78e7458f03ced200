"""Review 27: an over-billed hour an earlier refund asked for is left out of any other refund (in-memory fakes).

A refund's client token is made from its hours, so a window holding one more over-billed hour made another token
and refunded the first hour again (``tests/integration/test_review27_adjust_refunds_twice.py``)."""

from __future__ import annotations

from decimal import Decimal

from operations.adjust import proposals, refund_key
from tests.unit.test_adjust import Book, billed, deps


def test_an_hour_refunded_before_is_left_out_and_named_with_that_refunds_token() -> None:
    first = proposals(deps(), [billed(1200, 200)], Book())[0]  # 10.00 refunded for 09:00
    asked = {refund_key(h): first.client_token for h in first.hours}
    found = proposals(deps(), [billed(1200, 200), billed(300, 0, hour=10)], Book(), asked)
    ready = [p for p in found if p.problem is None]
    (left_out,) = [p for p in found if p.problem is not None]
    assert [h.hour.hour for h in left_out.hours] == [9]
    assert left_out.problem == f"refunded before (client token {first.client_token})"
    (refund,) = ready
    assert [h.hour.hour for h in refund.hours] == [10]
    assert refund.amount == Decimal("3.00")  # 10:00's 300 units only, not 13.00


def test_the_same_refund_asked_again_is_left_out_too() -> None:
    # proposed again it would be sent again, answered or not (attack 31): one answered is done, and one whose answer
    # was lost is sent again as it was by cli adjust (tests/integration/test_adjust.py), never proposed anew
    first = proposals(deps(), [billed(1200, 200)], Book())[0]
    asked = {refund_key(h): first.client_token for h in first.hours}
    (again,) = proposals(deps(), [billed(1200, 200)], Book(), asked)
    assert (again.problem, again.amount) == (f"refunded before (client token {first.client_token})", None)
