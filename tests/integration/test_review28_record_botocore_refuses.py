"""Review 28: a record botocore refuses to send (its own check of the service model, before any request) is one
Marketplace refused for its content, never an outage to retry.

botocore's ``ParamValidationError`` is a ``BotoCoreError``, which the gateway read as "no answer, the outcome is
unknown": the flush retried the whole batch until its attempts ran out and left it pending, and every run did the
same, so the good records beside the bad one were never billed. As a refused batch (``BatchRejected``) it is halved
until the bad record stands alone, failed with its reason, and the others are billed. Unmodified boto3 against the
emulator: the request never reaches it. The app's own client leaves that check to Marketplace, which refuses the batch
(a ValidationException): the same halving, the same records billed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.flush.records import BatchRejected, MeteringGateway, MeteringRecord
from functions.flush.sender import Backoff, Sender, SendTally, TokenBucket
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Settings
from functions.wiring import aws_clients
from functions.wiring.flush import metering_gateway
from local.marketplace.testing import EmulatorHandle

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
PRODUCT = "refused-product"


def _record(sub: dict[str, Any], dimension: str, units: int, *, account: str | None = None) -> MeteringRecord:
    """``account``: the buyer's account id as sent (their own unless said); botocore checks the model's minimum
    length of each field (not its maximum: the server does) before sending."""
    return MeteringRecord(
        key=f"{PRODUCT}#{sub['license_arn']}#{dimension}",
        hour=HOUR,
        product_code=PRODUCT,
        customer_key=sub["license_arn"],
        customer_aws_account_id=sub["account_id"] if account is None else account,
        dimension=dimension,
        quantity=Decimal(units),
        integer=True,
        license_arn=sub["license_arn"],
    )


def _one_refused_between_two_good(gateway: MeteringGateway, buyer: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Send 5 api_calls, 3 errors with an empty CustomerAWSAccountId (the model's minimum is 1) and 7 storage as one
    batch; each dimension's (status, reason), once nothing is left pending."""
    sleeps: list[float] = []
    sender = Sender(gateway, TokenBucket(1000, sleep=sleeps.append), Backoff(sleep=sleeps.append), lambda: False)
    tally = SendTally()
    sent = [_record(buyer, "api_calls", 5), _record(buyer, "errors", 3, account=""), _record(buyer, "storage", 7)]
    results = sender.deliver(sent, tally)
    assert tally.left_pending == []
    return {r.record.dimension: (r.status, r.reason) for r in results}


@pytest.fixture
def buyer(marketplace: EmulatorHandle) -> dict[str, Any]:
    marketplace.admin.create_product(PRODUCT, ["api_calls", "storage", "errors"], customer_mode="license")
    marketplace.admin.set_clock("2026-11-26T10:10:00Z")
    sub: dict[str, Any] = marketplace.admin.subscribe(PRODUCT, "444400000001", start_time="2026-11-25T00:00:00Z")
    return sub


def test_a_batch_botocore_refuses_is_rejected_naming_the_field_and_never_sent(
    marketplace: EmulatorHandle, buyer: dict[str, Any]
) -> None:
    gateway = Boto3MeteringGateway(marketplace.metering(max_attempts=1))
    refused = _record(buyer, "storage", 3, account="")  # CustomerAWSAccountId: at least 1 character
    with pytest.raises(BatchRejected) as rejection:
        gateway.batch_meter_usage([_record(buyer, "api_calls", 5), refused])
    assert rejection.value.code == "ParamValidationError"
    assert "CustomerAWSAccountId" in str(rejection.value)
    assert marketplace.admin.calls(operation="BatchMeterUsage") == []


def test_the_records_beside_one_botocore_refuses_are_billed_and_it_alone_fails(
    marketplace: EmulatorHandle, buyer: dict[str, Any]
) -> None:
    outcomes = _one_refused_between_two_good(Boto3MeteringGateway(marketplace.metering(max_attempts=1)), buyer)

    assert outcomes == {
        "api_calls": ("sent", None),
        "storage": ("sent", None),
        "errors": ("failed", "ParamValidationError"),
    }
    billed = {r["dimension"]: Decimal(r["quantity"]) for r in marketplace.admin.state()["ledger"]}
    assert billed == {"api_calls": Decimal(5), "storage": Decimal(7)}  # the units beside it, billed once


def test_through_the_apps_own_client_marketplace_refuses_the_record_and_only_it_fails(
    marketplace: EmulatorHandle, buyer: dict[str, Any], settings: Settings
) -> None:
    # The app's metering client leaves the check to Marketplace (functions.wiring.aws_clients): the call is made, the
    # service refuses the batch, and the same halving bills the records beside the refused one.
    live = replace(settings, marketplace_endpoint=marketplace.url)
    aws_clients.clear_clients()
    try:
        outcomes = _one_refused_between_two_good(metering_gateway(live, ManualClock(HOUR)), buyer)
    finally:
        aws_clients.clear_clients()

    assert outcomes == {
        "api_calls": ("sent", None),
        "storage": ("sent", None),
        "errors": ("failed", "ValidationException"),
    }
    refusals = [c for c in marketplace.admin.calls(operation="BatchMeterUsage") if c["http_status"] != 200]
    # the batch of three, then the half holding the refused record, then that record alone
    assert [c["error_code"] for c in refusals] == ["ValidationException"] * 3
    billed = {r["dimension"]: Decimal(r["quantity"]) for r in marketplace.admin.state()["ledger"]}
    assert billed == {"api_calls": Decimal(5), "storage": Decimal(7)}
