"""What the next ``cli adjust`` takes of earlier refunds (``operations.refund_claims.earlier_refunds``, no storage):
every refund that holds an hour is kept in view, whichever claim is read first (review 28's attack)."""

from __future__ import annotations

from decimal import Decimal

from operations.adjust import claim_aliases
from operations.agreement_billing import RefundEntry
from operations.refund_claims import AskedRefund, earlier_refunds

NOW, FORMER = "p#l#api_calls#2026-11-26T10", "#l#api_calls#2026-11-26T10"
OTHER = "p#l#api_calls#2026-11-26T11"
FORMERLY = {FORMER: NOW}
NEARBY = ((), (), claim_aliases(["p"]))  # nothing claimed beyond the window's hours


def _refund(token: str, keys: tuple[str, ...], request_id: str | None) -> AskedRefund:
    entry = RefundEntry("agmt", "inv", Decimal("1.00"), "USD", "INCORRECT_METERING", "d", token)
    return AskedRefund(entry, keys, "2026-11", "100", request_id)


def test_an_hour_held_by_a_done_refund_stays_held_whatever_order_its_claims_are_read_in() -> None:
    done, failed = _refund("adjust-a", (FORMER,), "ba-a"), _refund("adjust-b", (NOW,), "ba-b")
    for claims in ([(FORMER, "adjust-a"), (NOW, "adjust-b")], [(NOW, "adjust-b"), (FORMER, "adjust-a")]):
        found = earlier_refunds(claims, [done, failed], {"ba-b"}, FORMERLY, NEARBY)
        assert found.asked == {NOW: "adjust-a"}
        assert found.retried == {}  # asked for again only where every refund of it failed


def test_an_hour_every_refund_of_which_failed_is_asked_for_again() -> None:
    first, second = _refund("adjust-a", (FORMER,), "ba-a"), _refund("adjust-b", (NOW,), "ba-b")
    found = earlier_refunds(
        [(FORMER, "adjust-a"), (NOW, "adjust-b")], [first, second], {"ba-a", "ba-b"}, FORMERLY, NEARBY
    )
    assert found.asked == {}
    assert found.retried == {NOW: "ba-a"}
    assert found.failed == {"adjust-a", "adjust-b"}


def test_an_unanswered_refund_is_sent_again_only_where_its_hours_are_its_own() -> None:
    alone = _refund("adjust-c", (NOW, FORMER, OTHER), None)  # a run stopped before claiming 11:00
    found = earlier_refunds([(NOW, "adjust-c"), (FORMER, "adjust-c")], [alone], set(), FORMERLY, NEARBY)
    assert (found.unanswered, found.overlapping) == ([alone], [])
    assert found.asked == {NOW: "adjust-c", OTHER: "adjust-c"}

    done = _refund("adjust-a", (FORMER,), "ba-a")
    beside = _refund("adjust-b", (NOW,), None)  # an earlier version's second refund of the hour: answer never came
    found = earlier_refunds([(FORMER, "adjust-a"), (NOW, "adjust-b")], [done, beside], set(), FORMERLY, NEARBY)
    assert (found.unanswered, found.overlapping) == ([], [beside])
    # held by both: named by both, so no proposal (whose token is one refund's) takes it
    assert found.asked == {NOW: "adjust-a, adjust-b"}
