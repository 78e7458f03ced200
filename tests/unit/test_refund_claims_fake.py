"""The in-memory refund claims (``tests.fakes.InMemoryRefundClaims``, what the simulator's operator keeps its claims
in) keep ``DynamoRefundClaims``'s conditional writes: an hour is claimed by one refund at a time, a refund refused
frees only its own hours, an answer comes to the refund it names; what earlier runs asked for is read by the same
rules (``earlier_refunds``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from operations.adjust import claim_aliases
from operations.agreement_billing import RefundEntry
from operations.refund_claims import AskedRefund
from tests.fakes import InMemoryRefundClaims

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)
ALIASES = claim_aliases(["p"])  # every key an hour's claim may be under


def asking(token: str, *hours: str, amount: str = "10") -> AskedRefund:
    entry = RefundEntry("agmt-1", "2028746221", Decimal(amount), "USD", "INCORRECT_METERING", "refund", token)
    return AskedRefund(entry, tuple(f"p#c#calls#2026-11-24T{h}" for h in hours), "2026-11", "100")


def test_an_hour_claimed_by_one_refund_is_refused_to_another_and_nothing_of_it_is_kept() -> None:
    claims = InMemoryRefundClaims()
    assert claims.claim(asking("t1", "09"), AT)
    assert not claims.claim(asking("t2", "10", "09"), AT)  # 10 claimed first, then 09 refused: 10 freed again
    assert {k: t for k, (t, _) in claims.claims.items()} == {"p#c#calls#2026-11-24T09": "t1"}
    assert [r.entry.client_token for r in claims.refunds(["t1", "t2"])] == ["t1"]
    assert claims.claim(asking("t1", "09"), AT)  # the same refund again: a retry of it


def test_a_refund_refused_frees_its_own_hours_only_and_a_failed_one_may_be_replaced() -> None:
    claims = InMemoryRefundClaims()
    assert claims.claim(asking("t1", "09"), AT)
    claims.release(("p#c#calls#2026-11-24T09",), "t2")  # not its holder: nothing removed
    assert {k: t for k, (t, _) in claims.claims.items()} == {"p#c#calls#2026-11-24T09": "t1"}
    assert claims.claim(asking("t3", "09"), AT, replacing=["t1"])  # t1 failed after AWS took it
    claims.release(("p#c#calls#2026-11-24T09",), "t3")
    assert claims.claims == {}
    assert [r.entry.client_token for r in claims.refunds(["t1", "t3"])] == ["t1"]


def test_earlier_refunds_are_read_by_the_dynamo_rules_unanswered_sent_again_answered_left_out() -> None:
    claims = InMemoryRefundClaims()
    assert claims.claim(asking("t1", "09", "10"), AT)
    assert claims.claim(asking("t2", "11"), AT)
    claims.answered("t2", "ba-2")
    earlier = claims.earlier(["p#c#calls#2026-11-24T09", "p#c#calls#2026-11-24T11"], set(), {}, ALIASES)
    assert earlier.asked == {
        "p#c#calls#2026-11-24T09": "t1",
        "p#c#calls#2026-11-24T10": "t1",  # every hour of an unanswered refund is its own
        "p#c#calls#2026-11-24T11": "t2",
    }
    assert [a.entry.client_token for a in earlier.unanswered] == ["t1"]
    failed = claims.earlier(["p#c#calls#2026-11-24T11"], {"ba-2"}, {}, ALIASES)
    # t1, unanswered, is read though the window holds none of its hours (attack 32): sent again or shown, never lost
    unanswered_t1 = {"p#c#calls#2026-11-24T09": "t1", "p#c#calls#2026-11-24T10": "t1"}
    assert (failed.asked, failed.retried, failed.failed) == (
        unanswered_t1,
        {"p#c#calls#2026-11-24T11": "ba-2"},
        frozenset({"t2"}),
    )
    assert [a.entry.client_token for a in failed.unanswered] == ["t1"]


def test_each_items_read_and_write_is_a_step_the_simulator_may_fail_or_stop_at() -> None:
    steps: list[tuple[str, str]] = []
    claims = InMemoryRefundClaims(step=lambda operation, phase: steps.append((operation, phase)))
    claims.claim(asking("t1", "09", "10"), AT)
    assert steps == [("put_item", "before"), ("put_item", "after")] * 3  # the refund, then each hour


def test_a_refund_answered_meanwhile_is_never_claimed_to_be_sent_again() -> None:
    """Two runs at once propose the same refund; one sends it and keeps AWS's answer; the other's claim is refused
    and frees nothing (the simulator's seed 15166: only AWS's memory of the token stood between it and a second
    refund)."""
    claims = InMemoryRefundClaims()
    assert claims.claim(asking("t1", "09"), AT)
    assert claims.claim(asking("t1", "09"), AT)  # unanswered: a retry of it
    claims.answered("t1", "ba-1")
    assert not claims.claim(asking("t1", "09"), AT)
    assert {k: t for k, (t, _) in claims.claims.items()} == {"p#c#calls#2026-11-24T09": "t1"}
    assert [r.request_id for r in claims.refunds(["t1"])] == ["ba-1"]
