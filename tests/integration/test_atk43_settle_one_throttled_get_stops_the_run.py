"""Attack 43 (on 4afca33), against DynamoDB Local and the Marketplace emulator: ``adjust --settle`` now calls
GetBillingAdjustmentRequest once per answered refund no outcome event was kept of, on every run, through the billing
client that retries nothing (``target._REFUNDS``: made so for BatchCreateBillingAdjustmentRequest, attack 39, but a
Get is a read, safe to try again). One throttled Get (HTTP 429: botocore's standard mode would try it again) stops the
whole run with ``error: ThrottlingException``: the more refunds a seller has made, the likelier no settle run ends.

09:00 over-billed by 1000 units at 0.01: 10.00 refunded and answered; AWS completed it."""

from __future__ import annotations

from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import WINDOW, refunds

GET = "GetBillingAdjustmentRequest"


def test_one_throttled_get_of_an_answered_refund_does_not_stop_settle(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    world.over_bill(1000)
    status, out, err = world.cli("adjust", *WINDOW, "--send")
    assert status == 0, err + out
    (taken,) = world.refunds_sent()

    world.marketplace.admin.queue_errors({"operation": GET, "code": "ThrottlingException", "count": 1})
    status, out, err = world.cli("adjust", "--settle", "--send")
    asked = [c.get("status") for c in world.marketplace.admin.calls(operation=GET)]
    assert asked, "settle never asked AWS of the answered refund"  # no Completed event kept: it is asked
    assert status == 0, f"one throttle stopped settle: {err.strip()} (Get answers: {asked}, {taken['status']})"
