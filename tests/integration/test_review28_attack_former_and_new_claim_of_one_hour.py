"""Review 28 attack: one hour claimed under both its former (product-less) key and its key now loses one claim.

``DynamoRefundClaims.earlier`` reads every hour's claim under its key now and under its former key, and folds both
into one entry (``formerly.get(k, k)``): where both exist, whichever item the read returns last wins, and the other
refund is never looked at. Both exist as soon as a refund the earlier version kept under the former key failed
(Billing Adjustment Failed): the new version asks for the hour again under its key now, and the former claim stays.

Which one wins is the read's order: DynamoDB returns BatchGetItem's items in no set order, and ``batch_get`` asks in
requests of 100 keys, every key now first, every former key after: in a window of more than 50 over-billed hours the
former claims of the last hours come in a later request, so they win there whatever the order in one request. There
the hour's refund now (answered, or unanswered: never sent again) is not seen, the hour is asked for once more with
every other hour of its invoice, and claiming it fails on the refund not seen: "not sent ... run it again", and every
run again the same. The buyer's other hours, owed since the first refund failed, are never refunded by it.

Against DynamoDB Local and the Marketplace emulator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import START, Refunds, refunds
from tests.integration.test_review27b_adjust_failed_refund_never_asked_again import fail_refund
from tests.integration.test_review28_adjust_claims_of_earlier_versions import as_the_earlier_version_kept_them

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price
HOURS = 51  # over-billed hours: their keys now and former keys are 102, two requests of BatchGetItem
UNITS = 10  # billed each hour, used by nobody
FIRST, LAST = START + timedelta(hours=1), START + timedelta(hours=HOURS)  # 10:00 on the 26th .. 12:00 on the 28th


def _hour(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:00Z")


def _adjust(world: Refunds, since: str, until: str) -> tuple[int, dict[str, Any]]:
    status, out, err = world.cli("adjust", "--from", since, "--to", until, "--send", "--json")
    assert status in (0, 1), err + out
    shown: dict[str, Any] = json.loads(out)
    return status, shown


def _refunded(world: Refunds, failed: set[str]) -> Decimal:
    return sum(
        (Decimal(r["adjustmentAmount"]) for r in world.refunds_sent() if r["billingAdjustmentRequestId"] not in failed),
        Decimal(0),
    )


def test_an_hour_refunded_again_after_a_former_refund_failed_leaves_the_others_of_a_long_window_unrefunded(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # billed by our flush: the invoice has room for every refund here
    for offset in range(1, HOURS + 1):
        world.bill_unused(offset, UNITS)  # 10:05 .. 12:05 two days later, 10 units nobody used: only CloudTrail knows
        if offset == 3:  # 12:05: 09:00's honest usage is sent while Marketplace takes it (up to 6 hours back)
            status, _, err = world.cli("flush", "--json")
            assert status == 0, err
    world.move_to(LAST + timedelta(hours=3, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    window = (_hour(FIRST), _hour(LAST))

    # the earlier version refunded the 51 hours (5.10) and kept them under no product; AWS then failed it
    status, first = _adjust(world, *window)
    assert status == 0, first
    (asked,) = first["refunds"]
    assert asked["units"] == str(HOURS * UNITS)
    as_the_earlier_version_kept_them(world)
    (sent,) = world.refunds_sent()
    fail_refund(world, sent)
    failed = {sent["billingAdjustmentRequestId"]}

    # this version: the operator refunds the last two hours first (0.20): asked again under their keys now
    status, last_two = _adjust(world, _hour(LAST - timedelta(hours=1)), _hour(LAST))
    assert status == 0, last_two
    assert [r["outcome"][:21] for r in last_two["refunds"]] == ["refund requested: ba-"]
    assert _refunded(world, failed) == 2 * UNITS * PRICE

    # then the whole window, twice: the other 49 hours (4.90) are owed since the first refund failed
    outcomes = []
    for _ in range(2):
        status, whole = _adjust(world, *window)
        outcomes += [r["outcome"] for r in whole["refunds"]]
    refunded = _refunded(world, failed)
    # 5.10: each hour once; not 0.20, the 49 hours "not sent: another adjust asked for one of these hours meanwhile;
    # run it again" on every run: the last two hours' refund now was never read (their former claim read after it)
    assert refunded == HOURS * UNITS * PRICE, outcomes


def test_a_refund_whose_answer_never_came_is_sent_again_though_a_former_claim_of_its_hours_failed(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")
    for offset in range(1, HOURS + 1):
        world.bill_unused(offset, UNITS)
        if offset == 3:
            status, _, err = world.cli("flush", "--json")
            assert status == 0, err
    world.move_to(LAST + timedelta(hours=3, minutes=10))
    window = (_hour(FIRST), _hour(LAST))
    status, first = _adjust(world, *window)
    assert status == 0, first
    as_the_earlier_version_kept_them(world)
    (sent,) = world.refunds_sent()
    fail_refund(world, sent)
    failed = {sent["billingAdjustmentRequestId"]}

    # the last two hours asked for again under their keys now; AWS answers 500 to every attempt: never received
    world.marketplace.admin.queue_errors(
        {"operation": "BatchCreateBillingAdjustmentRequest", "code": "InternalServerException", "count": 20}
    )
    status, out, err = world.cli("adjust", "--from", _hour(LAST - timedelta(hours=1)), "--to", _hour(LAST), "--send")
    assert status != 0, out
    world.marketplace.admin.clear_faults()
    assert _refunded(world, failed) == 0

    # the next runs whose window holds those hours send that refund again as it was, whatever else the window holds
    outcomes = []
    for _ in range(2):
        status, whole = _adjust(world, *window)
        outcomes += [r["outcome"] for r in whole["refunds"]]
    # 5.10: 0.20 sent again as it was and 4.90 for the other 49 hours; not 0.00 (the unanswered refund never read,
    # so never sent again, and the 49 hours "not sent ... run it again" on every run)
    assert _refunded(world, failed) == HOURS * UNITS * PRICE, outcomes
