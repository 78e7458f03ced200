"""ListAgreementInvoiceLineItems and BatchCreateBillingAdjustmentRequest through an unmodified boto3 client: an
agreement's monthly invoice of its metered usage in the model's shape, a refund taken once per clientToken, never
more than the invoice's maxAdjustmentAmount, each refused entry in ``errors[]``, and the refund's event in the seller
guide's shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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


def test_a_refund_reads_back_in_the_models_shape_by_id_and_by_agreement(env: Any) -> None:
    """What a seller asks when BatchCreateBillingAdjustmentRequest's answer was lost: the adjustment, read by its id
    (with its description) or listed among the agreement's (filtered by time, paged), each answer in the model's
    shape."""
    sub = metered(env, 500)
    agreement, number = sub["agreement_id"], invoice(env, sub["agreement_id"])["invoiceId"]
    client, raw = env.agreement(), []
    client.meta.events.register("after-call.*", lambda http_response, **_: raw.append(http_response.content))
    made = []
    for n, amount in enumerate(["1.00", "0.50", "0.25"]):
        env.admin.set_clock(f"2026-11-26T1{n}:30:00Z")
        taken = client.batch_create_billing_adjustment_request(
            billingAdjustmentRequestEntries=[{**entry(agreement, number, amount, f"t-{n}"), "description": f"d{n}"}]
        )
        made.append(taken["items"][0]["billingAdjustmentRequestId"])
    got = client.get_billing_adjustment_request(agreementId=agreement, billingAdjustmentRequestId=made[1])
    assert output_violations(SERVICE, "GetBillingAdjustmentRequest", json.loads(raw[-1])) == []
    assert {k: got[k] for k in ("originalInvoiceId", "adjustmentAmount", "description", "status")} == {
        "originalInvoiceId": number,
        "adjustmentAmount": "0.50",
        "description": "d1",
        "status": "COMPLETED",
    }
    assert got["createdAt"] == got["updatedAt"]  # processed at once
    # the emulator's clock runs on from 11:30 (a loaded machine may take seconds before the call)
    assert timedelta(0) <= got["createdAt"] - datetime(2026, 11, 26, 11, 30, tzinfo=UTC) < timedelta(minutes=1)
    # the last two, from 11:30, a page of one at a time
    pages = client.get_paginator("list_billing_adjustment_requests").paginate(
        agreementId=agreement, createdAfter=datetime(2026, 11, 26, 11, 30, tzinfo=UTC), maxResults=1
    )
    listed = [item for page in pages for item in page["items"]]
    assert output_violations(SERVICE, "ListBillingAdjustmentRequests", json.loads(raw[-1])) == []
    assert [(i["billingAdjustmentRequestId"], i["adjustmentAmount"]) for i in listed] == [
        (made[1], "0.50"),
        (made[2], "0.25"),
    ]
    assert {(i["agreementType"], i["catalog"], i["originalInvoiceId"]) for i in listed} == {
        ("PurchaseAgreement", "AWSMarketplace", number)
    }
    # another agreement's id, and an id nobody made: not found
    other = env.admin.subscribe(PRODUCT, "444455556666", start_time="2026-11-25T00:00:00Z")["agreement_id"]
    for agreement_id, request_id in ((other, made[0]), (agreement, "ba-nothing")):
        with pytest.raises(client.exceptions.ResourceNotFoundException) as error:
            client.get_billing_adjustment_request(agreementId=agreement_id, billingAdjustmentRequestId=request_id)
        assert error.value.response["resourceType"] == "BillingAdjustmentRequest"
    assert client.list_billing_adjustment_requests(agreementId=other)["items"] == []
    # a page token of another query
    first = client.list_billing_adjustment_requests(agreementId=agreement, maxResults=1)
    with pytest.raises(client.exceptions.ValidationException):
        client.list_billing_adjustment_requests(agreementId=agreement, status="PENDING", nextToken=first["nextToken"])
