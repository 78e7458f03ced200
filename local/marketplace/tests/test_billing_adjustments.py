"""ListAgreementInvoiceLineItems and BatchCreateBillingAdjustmentRequest through an unmodified boto3 client: an
agreement's monthly invoice of its metered usage in the model's shape, a refund taken once per clientToken, never
more than the invoice's maxAdjustmentAmount, each refused entry in ``errors[]``, and the refund's event in the seller
guide's shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ..model_validation import output_violations
from ..testing import usage_record

SERVICE = "marketplace-agreement"
PRODUCT = "refund-product"
BUYER = "111122223333"
HOUR = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@pytest.fixture
def env(marketplace: Any) -> Any:
    marketplace.admin.set_clock("2026-11-26T10:05:00Z")
    marketplace.admin.create_product(PRODUCT, ["api_calls"])
    return marketplace


def metered(env: Any, units: int) -> dict[str, Any]:
    sub = env.admin.subscribe(PRODUCT, BUYER, start_time="2026-11-25T00:00:00Z")
    answer = env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", units, HOUR)])
    assert answer["Results"][0]["Status"] == "Success"
    return dict(sub)


def invoice(env: Any, agreement_id: str) -> dict[str, Any]:
    answer = env.agreement().list_agreement_invoice_line_items(agreementId=agreement_id, groupBy="INVOICE_ID")
    (found,) = answer["agreementInvoiceLineItemGroupSummaries"]
    return dict(found)


def entry(agreement_id: str, invoice_id: str, amount: str, token: str) -> dict[str, Any]:
    return {
        "agreementId": agreement_id,
        "originalInvoiceId": invoice_id,
        "adjustmentAmount": amount,
        "currencyCode": "USD",
        "adjustmentReasonCode": "INCORRECT_METERING",
        "clientToken": token,
    }


def test_a_months_usage_is_one_invoice_in_the_models_shape(env: Any) -> None:
    sub = metered(env, 500)
    client, raw = env.agreement(), []
    client.meta.events.register("after-call.*", lambda http_response, **_: raw.append(http_response.content))
    answer = client.list_agreement_invoice_line_items(agreementId=sub["agreement_id"], groupBy="INVOICE_ID")
    (found,) = answer["agreementInvoiceLineItemGroupSummaries"]
    assert output_violations(SERVICE, "ListAgreementInvoiceLineItems", json.loads(raw[-1])) == []
    assert found["invoiceBillingPeriod"] == {"month": 11, "year": 2026}
    assert found["pricingCurrencyAmount"] == {"amount": "5.00", "maxAdjustmentAmount": "5.00", "currencyCode": "USD"}
    assert found["invoiceType"] == "INVOICE"


def test_a_refund_is_taken_once_per_token_and_never_above_what_may_still_be_refunded(env: Any) -> None:
    sub = metered(env, 500)
    agreement, number = sub["agreement_id"], invoice(env, sub["agreement_id"])["invoiceId"]
    client, raw = env.agreement(), []
    client.meta.events.register("after-call.*", lambda http_response, **_: raw.append(http_response.content))
    first = client.batch_create_billing_adjustment_request(
        billingAdjustmentRequestEntries=[entry(agreement, number, "3.00", "refund-1")]
    )
    assert output_violations(SERVICE, "BatchCreateBillingAdjustmentRequest", json.loads(raw[-1])) == []
    (item,) = first["items"]
    assert first["errors"] == []
    # the same entry again (a retry after a lost answer): the same refund, nothing more refunded
    again = client.batch_create_billing_adjustment_request(
        billingAdjustmentRequestEntries=[entry(agreement, number, "3.00", "refund-1")]
    )
    assert again["items"] == [item]
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "2.00"
    # more than the 2.00 left, and the token of another entry: each refused in errors[], nothing refunded
    refused = client.batch_create_billing_adjustment_request(
        billingAdjustmentRequestEntries=[
            entry(agreement, number, "2.01", "refund-2"),
            entry(agreement, number, "1.00", "refund-1"),
            entry(agreement, "999", "1.00", "refund-3"),
        ]
    )
    assert refused["items"] == []
    assert [e["code"] for e in refused["errors"]] == [
        "VALIDATION_EXCEPTION",
        "CONFLICT_EXCEPTION",
        "RESOURCE_NOT_FOUND_EXCEPTION",
    ]
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "2.00"
    events = [
        n["body"]
        for n in env.admin.notifications()
        if n["channel"] == "eventbridge" and "Billing Adjustment" in n["body"]["detail-type"]
    ]
    (event,) = events
    assert event["detail-type"] == "Purchase Agreement Billing Adjustment Completed - Proposer"
    assert event["detail"]["billingAdjustmentRequest"]["adjustmentAmount"] == "-3.00"
    assert event["detail"]["invoice"]["originalInvoiceId"] == number
