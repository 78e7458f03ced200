"""Review 29 (attack on 6bcba07 + 39b156d): an unanswered refund held because another refund holds one of its hours
is sent again as it was by the next run whose window leaves that hour out.

``earlier`` reads the claims of the window's hours only; the other refund's claim of the hour outside the window is
never read, the unanswered refund's hours look its own, and it goes out again. AWS never took it the first time
(its answer never came because it never arrived), so this time it refunds both of its hours: 11:00 a second time.

The state is the one review 28's "held" rule is for (an earlier version could claim an hour twice): 11:00 refunded
by a refund kept under its former key (``as_the_earlier_version_kept_them``), and a second refund of 10:00 and 11:00
kept under their keys now, its answer never came. Against DynamoDB Local and the Marketplace emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.agreement_billing import RefundEntry
from operations.refund_claims import AskedRefund, DynamoRefundClaims
from tests.integration.test_adjust import refunds
from tests.integration.test_review28_adjust_claims_of_earlier_versions import as_the_earlier_version_kept_them

PRICE = Decimal("0.01")


def refunded(world: Any) -> Decimal:
    return sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))


def a_held_refund(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Any:
    """10:00 and 11:00 over-billed (17.00), 11:00 refunded (7.00) and kept under its former key, and a refund of both
    kept under their keys now, never answered: held, as a run over both hours shows."""
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.bill_two_unused_hours()  # 10:00 and 11:00: 1,000 and 700 units nobody used (17.00 over-billed)

    # the refund of both hours as it would be asked for (dry run): the second refund below is this one
    status, out, err = world.cli("adjust", "--from", "2026-11-26T10:00Z", "--to", "2026-11-26T11:00Z", "--json")
    assert status == 0, err
    (both,) = json.loads(out)["refunds"]
    assert both["units"] == "1700"

    # 11:00 refunded (7.00) and kept under its former key, as the earlier version did
    done = world.adjust_send("2026-11-26T11:00Z", "2026-11-26T11:00Z")
    assert [r["units"] for r in done["refunds"]] == ["700"]
    as_the_earlier_version_kept_them(world)
    assert refunded(world) == Decimal("7.00")

    # the earlier version's second refund of 10:00 and 11:00, under their keys now: claimed, sent, no answer came
    product, licence = world.settings.products[0].code, world.subscriptions[0]["license_arn"]
    keys = tuple(f"{product}#{licence}#api_calls#2026-11-26T{h}" for h in ("10", "11"))
    entry = RefundEntry(
        both["agreement"],
        both["invoice"],
        Decimal(both["amount"]),
        "USD",
        "INCORRECT_METERING",
        "Over-billed units",
        both["client_token"],
    )
    claims = DynamoRefundClaims(world.dynamodb, world.settings.metering_table)
    assert claims.claim(AskedRefund(entry, keys, "2026-11", "1700"), datetime(2026, 11, 27, 12, tzinfo=UTC))

    # a run over both hours holds it: 11:00 is held by the refund that refunded it
    status, out, err = world.cli("adjust", "--from", "2026-11-26T10:00Z", "--to", "2026-11-26T11:00Z", "--send")
    assert status == 1, err + out
    assert "held" in out
    assert refunded(world) == Decimal("7.00")
    return world


def test_a_held_refund_is_not_sent_again_by_a_window_without_its_doubly_claimed_hour(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = a_held_refund(settings, marketplace, dynamodb)
    # a run over 10:00 alone (another invoice's hours, --to 10:00): never reads 11:00's claims
    world.cli("adjust", "--from", "2026-11-26T10:00Z", "--to", "2026-11-26T10:00Z", "--send")
    # 17.00 billed over what was due; not 24.00 (11:00's 700 units refunded twice)
    assert refunded(world) <= Decimal("17.00"), f"{refunded(world)} refunded for 17.00 over-billed"
