"""Review 29 (attack on 6bcba07 + 39b156d): whether an unanswered refund is held depends on the window of the run
that reads it.

``earlier_refunds`` holds a refund whose answer never came when another live refund holds one of its hours (an
earlier version could claim an hour twice: under its former, product-less key while only CloudTrail knew it, and
under its key now once our ledger knew it). But ``earlier`` reads the claims of the window's hours only (their keys
now and former keys): a run whose window (``--from``/``--to``, ``--dimension``, ``--customer``) holds another hour of
that refund, but not the doubly claimed one, never reads the other refund's claim, finds the unanswered refund's hours
"its own", and sends it again as it was. Where AWS never took it the first time, that refunds the doubly claimed hour
a second time (the other refund refunded it).

The state: 10:00 was refunded by an earlier version's refund ``adjust-done`` (answered) under its former key while
only CloudTrail knew it; later the same version's ``adjust-beside`` asked for 09:00 and 10:00 under their keys now
(10:00 known to our ledger by then: a leaving buyer's usage placed there) and its answer never came. In-memory
fakes (``InMemoryRefundClaims``: the same reads as ``DynamoRefundClaims``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from operations.adjust import claim_aliases
from operations.agreement_billing import RefundEntry
from operations.refund_claims import AskedRefund
from tests.fakes import InMemoryRefundClaims

AT = datetime(2026, 11, 28, 12, tzinfo=UTC)
NINE_NOW = "p#l#api_calls#2026-11-26T09"
NINE_FORMER = "#l#api_calls#2026-11-26T09"
TEN_NOW = "p#l#api_calls#2026-11-26T10"
TEN_FORMER = "#l#api_calls#2026-11-26T10"


def _refund(token: str, keys: tuple[str, ...], amount: str, request_id: str | None) -> AskedRefund:
    entry = RefundEntry("agmt", "inv", Decimal(amount), "USD", "INCORRECT_METERING", "d", token)
    return AskedRefund(entry, keys, "2026-11", "x", request_id)


def _claims() -> InMemoryRefundClaims:
    claims = InMemoryRefundClaims()
    done = _refund("adjust-done", (TEN_FORMER,), "7.00", None)  # 700 units of 10:00 at 0.01
    assert claims.claim(done, AT)
    claims.answered("adjust-done", "ba-done")
    beside = _refund("adjust-beside", (NINE_NOW, TEN_NOW), "17.00", None)  # 1,000 of 09:00 and 10:00's 700 again
    assert claims.claim(beside, AT)  # the earlier version's claims: under keys now only; no answer came
    return claims


def test_the_doubly_claimed_hour_in_the_window_holds_the_unanswered_refund() -> None:
    found = _claims().earlier(
        [NINE_NOW, TEN_NOW], set(), {NINE_FORMER: NINE_NOW, TEN_FORMER: TEN_NOW}, claim_aliases(["p"])
    )
    assert [r.entry.client_token for r in found.overlapping] == ["adjust-beside"]
    assert found.unanswered == []


def test_a_window_without_the_doubly_claimed_hour_holds_it_too() -> None:
    # the operator's next run covers 09:00 only (--to 09:00, or a later --from of another invoice's hours)
    # the CLI names every key an hour's claim may be under (claim_aliases), read for the unanswered refund's hours
    found = _claims().earlier([NINE_NOW], set(), {NINE_FORMER: NINE_NOW}, claim_aliases(["p"]))
    resent = [r.entry.client_token for r in found.unanswered]
    # sent again as it was, it refunds 10:00's 700 units (7.00) a second time where AWS had not taken it
    assert resent == [], "adjust-beside sent again: 10:00 refunded twice (adjust-done refunded it)"
    assert [r.entry.client_token for r in found.overlapping] == ["adjust-beside"]
