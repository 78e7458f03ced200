"""Attack 39 (on f0e18c3, invariant 5: ``tests/fakes.py`` InMemoryRefundClaims behaves like DynamoRefundClaims, which
the simulator relies on). f0e18c3's ``refused`` mark holds a resend AWS refused outright: no run sends it again. A run
that read the refund before another run marked it (two adjust runs at once, an operator's and the daily one) sends it
again: ``DynamoRefundClaims.claim`` keeps the refund with one put_item of the item as sent, which drops ``refused``
(``_refund_item`` writes no ``refused``), so the next run sends it again; the fake's ``claim`` keeps the refund with
``dataclasses.replace`` of the one kept, ``refused`` included, so in the simulator it stays held. The simulator never
sees the refund sent again after its refusal (nor, the other way, a refund the fake holds that DynamoDB sends).

Against DynamoDB Local, the same calls on both stores: kept (first send), marked refused (a run's resend refused
outright), kept again (the resend of a run that read it before the mark). No money is shown at stake here: a resend
refused again is marked again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from operations.agreement_billing import RefundEntry
from operations.refund_claims import AskedRefund, DynamoRefundClaims
from tests.fakes import InMemoryRefundClaims

SENT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_a_refund_kept_again_after_its_refused_mark_reads_the_same_from_the_fake_and_dynamodb(
    settings: Settings, dynamodb: Any
) -> None:
    token = "adjust-" + "a" * 40
    entry = RefundEntry(
        "agmt-1", "2028746221", Decimal("3.00"), "USD", "INCORRECT_METERING", f"Over-billed (ref {token})", token
    )
    hour = "prod-1#cust-1#requests#2026-11-26T09"
    refund = AskedRefund(entry, (hour,), "2026-11", "300")
    stores: dict[str, Any] = {
        "DynamoDB": DynamoRefundClaims(dynamodb, settings.metering_table),
        "fake": InMemoryRefundClaims(),
    }
    seen: dict[str, tuple[Any, ...]] = {}
    for name, store in stores.items():
        assert store.claim(refund, SENT)  # first send: its answer lost
        (read_before,) = store.unanswered()  # a run reads it, about to send it again
        assert store.claim(read_before, SENT + timedelta(days=1))  # another run sends it again: refused outright
        store.refused(token, SENT + timedelta(days=1))
        assert store.claim(read_before, SENT + timedelta(days=1, minutes=1))  # the first run sends it again
        (kept,) = store.unanswered()
        seen[name] = (kept.refused, kept.sent, kept.at)
    assert seen["fake"] == seen["DynamoDB"], seen
