"""``DynamoRefundClaims`` on DynamoDB Local: a refund whose answer is kept is never claimed to be sent again (two
adjust runs at once proposing the same refund: the simulator's seed 15166), and the refused claim frees nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from functions.settings import Settings
from operations.refund_claims import DynamoRefundClaims
from tests.unit.test_refund_claims_fake import AT, asking


def test_a_refund_answered_meanwhile_is_never_claimed_to_be_sent_again(settings: Settings, dynamodb: Any) -> None:
    claims = DynamoRefundClaims(dynamodb, settings.metering_table)
    assert claims.claim(asking("t1", "09"), AT)
    assert claims.claim(asking("t1", "09"), AT)  # unanswered: a retry of it
    claims.answered("t1", "ba-1")
    assert not claims.claim(asking("t1", "09"), datetime(2026, 11, 24, 13, tzinfo=UTC))
    assert claims.claims_of(["p#c#calls#2026-11-24T09"]) == [("p#c#calls#2026-11-24T09", "t1")]
    assert [r.request_id for r in claims.refunds(["t1"])] == ["ba-1"]
    assert claims.unanswered() == []
    # another run's release of the same refund (refused to it) deletes nothing AWS's answer is kept for (attack 34)
    claims.release(("p#c#calls#2026-11-24T09",), "t1")
    assert claims.claims_of(["p#c#calls#2026-11-24T09"]) == [("p#c#calls#2026-11-24T09", "t1")]
    assert [r.request_id for r in claims.refunds(["t1"])] == ["ba-1"]
