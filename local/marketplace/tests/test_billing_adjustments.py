"""ListAgreementInvoiceLineItems and BatchCreateBillingAdjustmentRequest through an unmodified boto3 client: an
agreement's monthly invoice of its metered usage in the model's shape, a refund taken once per clientToken, never
more than the invoice's maxAdjustmentAmount, each refused entry in ``errors[]``, and the refund's event in the seller
guide's shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..admin_client import AdminAPIError
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


# -- AWS fails a refund it took (the admin API's POST /admin/billing-adjustments/{id}/fail) ---------------------------


def refund(env: Any, agreement_id: str, number: str, amount: str, token: str) -> str:
    taken = env.agreement().batch_create_billing_adjustment_request(
        billingAdjustmentRequestEntries=[{**entry(agreement_id, number, amount, token), "description": token}]
    )
    assert taken["errors"] == []
    return str(taken["items"][0]["billingAdjustmentRequestId"])


def adjustment_events(env: Any, after: int = 0) -> list[dict[str, Any]]:
    return [
        n["body"]
        for n in env.admin.notifications(after)
        if n["channel"] == "eventbridge" and "Billing Adjustment" in n["body"]["detail-type"]
    ]


def last_seq(env: Any) -> int:
    return max((int(n["seq"]) for n in env.admin.notifications()), default=0)


def model_members(client: Any, shape: str) -> set[str]:
    return set(client.meta.service_model.shape_for(shape).members)


def test_a_refund_aws_failed_reads_back_failed_in_the_models_shape_and_refunds_nothing(env: Any) -> None:
    sub = metered(env, 500)  # 5.00
    agreement, number = sub["agreement_id"], invoice(env, sub["agreement_id"])["invoiceId"]
    failed, completed = refund(env, agreement, number, "3.00", "r-1"), refund(env, agreement, number, "1.00", "r-2")
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "1.00"
    env.admin.set_clock("2026-11-26T12:00:00Z")
    answer = env.admin.fail_billing_adjustment(failed)
    assert (answer["billingAdjustmentRequestId"], answer["status"]) == (failed, "VALIDATION_FAILED")
    # what it had taken off the invoice's room is back: 1.00 left + 3.00
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "4.00"

    client, raw = env.agreement(), []
    client.meta.events.register("after-call.*", lambda http_response, **_: raw.append(http_response.content))
    got = client.get_billing_adjustment_request(agreementId=agreement, billingAdjustmentRequestId=failed)
    assert output_violations(SERVICE, "GetBillingAdjustmentRequest", json.loads(raw[-1])) == []
    # every member of the model's output: statusMessage is "populated only when the status is VALIDATION_FAILED"
    assert set(json.loads(raw[-1])) == model_members(client, "GetBillingAdjustmentRequestOutput")
    assert (got["status"], got["statusMessage"]) == (
        "VALIDATION_FAILED",
        "The billing adjustment request failed validation.",
    )
    assert (got["adjustmentAmount"], got["description"]) == ("3.00", "r-1")
    # updated when AWS failed it, by the emulator's clock (which runs on from 12:00)
    assert timedelta(0) <= got["updatedAt"] - datetime(2026, 11, 26, 12, 0, tzinfo=UTC) < timedelta(minutes=1)
    assert got["createdAt"] < datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    other = client.get_billing_adjustment_request(agreementId=agreement, billingAdjustmentRequestId=completed)
    assert set(json.loads(raw[-1])) == model_members(client, "GetBillingAdjustmentRequestOutput") - {"statusMessage"}
    assert other["status"] == "COMPLETED"

    by_status = {}
    for status in ("VALIDATION_FAILED", "COMPLETED", "PENDING"):
        listed = client.list_billing_adjustment_requests(agreementId=agreement, status=status)["items"]
        assert output_violations(SERVICE, "ListBillingAdjustmentRequests", json.loads(raw[-1])) == []
        by_status[status] = [(i["billingAdjustmentRequestId"], i["status"]) for i in listed]
    assert by_status == {
        "VALIDATION_FAILED": [(failed, "VALIDATION_FAILED")],
        "COMPLETED": [(completed, "COMPLETED")],
        "PENDING": [],
    }
    (summary,) = json.loads(raw[-2])["items"]  # the COMPLETED page's; the failed one's has the same keys
    everything = client.list_billing_adjustment_requests(agreementId=agreement)["items"]
    assert [i["status"] for i in everything] == ["VALIDATION_FAILED", "COMPLETED"]
    for item in json.loads(raw[-1])["items"]:
        assert set(item) == set(summary) == model_members(client, "BillingAdjustmentSummary")  # no statusMessage

    # the room is refundable again, and no more than it
    refused = client.batch_create_billing_adjustment_request(
        billingAdjustmentRequestEntries=[entry(agreement, number, "4.01", "r-3")]
    )
    assert [e["code"] for e in refused["errors"]] == ["VALIDATION_EXCEPTION"]
    refund(env, agreement, number, "4.00", "r-4")
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "0.00"
    # the failed refund's entry again: the same (failed) adjustment, nothing refunded, no event
    seq = last_seq(env)
    again = client.batch_create_billing_adjustment_request(
        billingAdjustmentRequestEntries=[{**entry(agreement, number, "3.00", "r-1"), "description": "r-1"}]
    )
    assert (again["items"], again["errors"]) == ([{"billingAdjustmentRequestId": failed, "clientToken": "r-1"}], [])
    assert adjustment_events(env, seq) == []
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "0.00"


def test_a_failed_refund_sends_awss_failed_event_field_for_field(env: Any) -> None:
    """AWS's example (the seller guide's "Events for billing adjustments", billing_adjustment_failed_proposer.json in
    this repository's tests/fixtures/aws): the Completed event's fields, the detail-type saying Failed."""
    sub = metered(env, 500)
    agreement, number = sub["agreement_id"], invoice(env, sub["agreement_id"])["invoiceId"]
    request_id = refund(env, agreement, number, "2.5", "r-1")
    seq = last_seq(env)
    env.admin.set_clock("2026-11-26T12:00:00Z")
    env.admin.fail_billing_adjustment(request_id)
    (event,) = adjustment_events(env, seq)
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert {k: event[k] for k in ("version", "detail-type", "source", "account", "region", "resources")} == {
        "version": "0",
        "detail-type": "Purchase Agreement Billing Adjustment Failed - Proposer",
        "source": "aws.agreement-marketplace",
        "account": env.admin.get_config()["seller_account_id"],
        "region": "us-east-1",
        "resources": [],
    }
    assert event["time"].startswith("2026-11-26T12:00:")
    assert event["time"].endswith("Z")
    detail = dict(event["detail"])
    assert set(detail) == {"requestId", "catalog", "agreement", "billingAdjustmentRequest", "invoice"}
    assert isinstance(detail.pop("requestId"), str)
    assert detail == {
        "catalog": "AWSMarketplace",
        "agreement": {"id": agreement},
        "billingAdjustmentRequest": {
            "id": request_id,
            "adjustmentAmount": "-2.50",  # a credit with two decimals, as the example's "-1000.00"
            "currencyCode": "USD",
            "adjustmentReasonCode": "INCORRECT_METERING",
        },
        "invoice": {"originalInvoiceId": number},
    }
    (notification,) = [n for n in env.admin.notifications(seq) if n["channel"] == "eventbridge"]
    assert (notification["step"], notification["agreement_id"]) == ("billing_adjustment", agreement)


def test_a_failed_refunds_event_can_be_lost(env: Any) -> None:
    """notify=False: AWS failed the refund and its event never reached the seller (what a seller's recovery reads
    back with GetBillingAdjustmentRequest)."""
    sub = metered(env, 500)
    agreement, number = sub["agreement_id"], invoice(env, sub["agreement_id"])["invoiceId"]
    request_id = refund(env, agreement, number, "5.00", "r-1")
    seq = last_seq(env)
    answer = env.admin.fail_billing_adjustment(request_id, notify=False, status_message="Invoice already credited")
    assert env.admin.notifications(seq) == []
    assert (answer["status"], answer["statusMessage"]) == ("VALIDATION_FAILED", "Invoice already credited")
    got = env.agreement().get_billing_adjustment_request(agreementId=agreement, billingAdjustmentRequestId=request_id)
    assert (got["status"], got["statusMessage"]) == ("VALIDATION_FAILED", "Invoice already credited")
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "5.00"


def test_failing_an_unknown_or_failed_refund_or_with_bad_input_is_refused_and_changes_nothing(env: Any) -> None:
    sub = metered(env, 500)
    agreement, number = sub["agreement_id"], invoice(env, sub["agreement_id"])["invoiceId"]
    request_id = refund(env, agreement, number, "1.00", "r-1")
    for body, field in (({"notify": "no"}, "notify"), ({"status_message": "x" * 501}, "status_message")):
        with pytest.raises(AdminAPIError) as bad:
            env.admin._call("POST", f"billing-adjustments/{request_id}/fail", body)
        assert bad.value.status == 400
        assert field in bad.value.message
    seq = last_seq(env)
    got = env.agreement().get_billing_adjustment_request(agreementId=agreement, billingAdjustmentRequestId=request_id)
    assert got["status"] == "COMPLETED"
    assert "statusMessage" not in got
    with pytest.raises(AdminAPIError) as unknown:
        env.admin.fail_billing_adjustment("ba-nothing")
    assert unknown.value.status == 404
    assert "ba-nothing" in unknown.value.message
    first = env.admin.fail_billing_adjustment(request_id)
    env.admin.advance_clock(60)
    # failed already: refused (409), not answered again, so a test failing the wrong refund twice hears of it
    with pytest.raises(AdminAPIError) as again:
        env.admin.fail_billing_adjustment(request_id, status_message="another reason")
    assert again.value.status == 409
    assert "VALIDATION_FAILED" in again.value.message
    got = env.agreement().get_billing_adjustment_request(agreementId=agreement, billingAdjustmentRequestId=request_id)
    assert got["statusMessage"] == first["statusMessage"]
    assert got["updatedAt"] == datetime.fromisoformat(first["updatedAt"].replace("Z", "+00:00"))
    assert len(adjustment_events(env, seq)) == 1  # the first failure's only
    assert invoice(env, agreement)["pricingCurrencyAmount"]["maxAdjustmentAmount"] == "5.00"
