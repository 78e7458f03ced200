"""Every notification kind the emulator sends has exactly the shape of AWS's published example of it.

Each scenario makes its agreement the way the matching example was made (a direct offer or a channel partner's,
with or without a resale authorization), drives it through its lifecycle steps, and every event and SNS message it
emits must have a corpus counterpart with the same keys, nesting and types (``tests.aws_corpus.shape``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.marketplace.admin_client import AdminAPIError
from local.marketplace.testing import EmulatorHandle
from local.marketplace.tests.helpers import NOW, iso
from tests.aws_corpus import (
    EVENTBRIDGE_EXAMPLES,
    SNS_EXAMPLES,
    eventbridge_example,
    example_text,
    shape,
    sns_envelope,
)

PARTNER = "999988887777"
RESALE = "resaleauthz-yaxjqxiskysxa"


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    marketplace.product("contract-product", ["seats"], pricing="contract", name="Product Title")
    return marketplace


def _corpus_name(event: dict[str, Any]) -> str | None:
    """The example an emitted event is an instance of, None if AWS publishes none of its kind."""
    detail_type = event["detail-type"]
    if detail_type == "Purchase Agreement Created - Proposer":
        return {"NEW": "created_proposer_new.json", "RENEW": "created_proposer_renew.json"}.get(
            event["detail"]["agreement"]["intent"]
        )
    kinds = {
        "Purchase Agreement Created - Manufacturer": "created_manufacturer.json",
        "Purchase Agreement Amended - Proposer": "amended_proposer.json",
        "Purchase Agreement Amended - Manufacturer": "amended_manufacturer.json",
        "Purchase Agreement Ended - Proposer": "ended_proposer.json",
        "Purchase Agreement Ended - Manufacturer": "ended_manufacturer.json",
        "Purchase Agreement Ending - Proposer": "ending_proposer.json",
        "License Updated - Manufacturer": "license_updated.json",
        "License Deprovisioned - Manufacturer": "license_deprovisioned.json",
        "Agreement Cancellation Request Pending Approval - Proposer": "cancellation_pending_approval_proposer.json",
        "Agreement Cancellation Request Approved - Proposer": "cancellation_approved_proposer.json",
        "Agreement Cancellation Request Rejected - Proposer": "cancellation_rejected_proposer.json",
        "Purchase Agreement Billing Adjustment Completed - Proposer": "billing_adjustment_completed_proposer.json",
        "Purchase Agreement Billing Adjustment Failed - Proposer": "billing_adjustment_failed_proposer.json",
    }
    return kinds.get(detail_type)


# AWS's examples of what the emulator does not send (yet), and why: each is still read by the seller's code (the
# lifecycle corpus tests), only the emulator cannot produce it.
NOT_EMITTED = {
    "advisory_issued_manufacturer.json": "AWS's own fraud and abuse checks: nothing in the emulator raises an advisory",
    "advisory_resolved_manufacturer.json": "likewise",
    "renewal_terms_finalized_proposer.json": "percentage-range renewal pricing is not emulated",
    "renewal_upcoming_proposer.json": "the renewal decision deadline is not emulated",
    "cancellation_cancelled_proposer.json": "CancelAgreementCancellationRequest is not served",
    "cancellation_validation_failed_proposer.json": "AWS's validation of a cancellation request is not emulated",
}


def _lenient_json(text: str) -> Any:
    """The published SNS examples end their object with a trailing comma (a documentation typo)."""
    return json.loads(re.sub(r",\s*}", "}", text))


def _sns_corpus_name(notification: dict[str, Any]) -> str:
    kind = "entitlement" if "aws-mp-entitlement-notification-" in notification["topic"] else "subscription"
    return f"{kind}_{json.loads(notification['body']['Message'])['action']}.txt"


def _direct_lifecycle(env) -> None:
    """created_proposer_new, amended_proposer, ended_proposer, the licence events (direct offer, resold)."""
    sub = env.admin.subscribe("contract-product", "111122223333", resale_authorization_id=RESALE)
    env.admin.put_entitlements(sub["agreement_id"], [{"dimension": "seats", "value": 5}])
    env.admin.unsubscribe(sub["agreement_id"])
    env.admin.finalize(sub["agreement_id"])


def _direct_renewal(env) -> None:
    """created_proposer_renew and ending_proposer (AWS's examples of both carry no resale authorization)."""
    sub = env.admin.subscribe("contract-product", "444455556666", resale_authorization_id=RESALE)
    renewal = env.admin.renew(sub["agreement_id"], resale_authorization_id=None)
    env.admin.notify_ending(renewal["agreement_id"], days_before_end=180)


def _partner_lifecycle(env) -> None:
    """created_manufacturer, amended_manufacturer, ended_manufacturer (a channel partner's resale)."""
    sub = env.admin.subscribe(
        "contract-product", "555566667777", proposer_account_id=PARTNER, resale_authorization_id=RESALE
    )
    env.admin.put_entitlements(sub["agreement_id"], [{"dimension": "seats", "value": 7}])
    renewal = env.admin.renew(sub["agreement_id"])
    env.admin.notify_ending(renewal["agreement_id"])  # the partner gets it, the seller nothing
    env.admin.finalize(renewal["agreement_id"])


def _failed_subscription(env) -> None:
    sub = env.admin.subscribe("contract-product", "777788889999", confirm=False)
    env.admin.fail(sub["agreement_id"])


def _cancellations(env) -> None:
    """cancellation_pending_approval_proposer, cancellation_approved_proposer, cancellation_rejected_proposer: the
    seller's SendAgreementCancellationRequest, the buyer's answers."""
    approved = env.admin.subscribe("contract-product", "121212121212", resale_authorization_id=RESALE)
    rejected = env.admin.subscribe("contract-product", "343434343434", resale_authorization_id=RESALE)
    for sub in (approved, rejected):
        env.agreement().send_agreement_cancellation_request(
            agreementId=sub["agreement_id"], reasonCode="TEST_AGREEMENT"
        )
    env.admin.approve_cancellation(approved["agreement_id"])
    env.admin.finalize(approved["agreement_id"])
    env.admin.reject_cancellation(rejected["agreement_id"])


def _refund(env) -> None:
    """billing_adjustment_completed_proposer: the seller refunds part of a month's invoice;
    billing_adjustment_failed_proposer: AWS fails a second refund it took (the admin API's)."""
    sub = env.admin.subscribe("contract-product", "565656565656", resale_authorization_id=RESALE)
    record = {"Timestamp": NOW, "Dimension": "seats", "Quantity": 100, "CustomerAWSAccountId": "565656565656"}
    record["LicenseArn"] = sub["license_arn"]
    env.metering().batch_meter_usage(UsageRecords=[record])
    agreement = env.agreement()
    (invoice,) = agreement.list_agreement_invoice_line_items(agreementId=sub["agreement_id"], groupBy="INVOICE_ID")[
        "agreementInvoiceLineItemGroupSummaries"
    ]
    entry = {
        "agreementId": sub["agreement_id"],
        "originalInvoiceId": invoice["invoiceId"],
        "adjustmentAmount": "0.50",
        "currencyCode": "USD",
        "adjustmentReasonCode": "INCORRECT_METERING",
        "clientToken": "shape-refund-1",
    }
    assert agreement.batch_create_billing_adjustment_request(billingAdjustmentRequestEntries=[entry])["errors"] == []
    second = {**entry, "adjustmentAmount": "0.25", "clientToken": "shape-refund-2"}
    (taken,) = agreement.batch_create_billing_adjustment_request(billingAdjustmentRequestEntries=[second])["items"]
    env.admin.fail_billing_adjustment(taken["billingAdjustmentRequestId"])


SCENARIOS = (_refund, _direct_lifecycle, _direct_renewal, _partner_lifecycle, _failed_subscription, _cancellations)


def _drive(env: EmulatorHandle, end_order: str) -> list[dict[str, Any]]:
    env.admin.put_config(end_order=end_order)
    for scenario in SCENARIOS:
        scenario(env)
    return env.admin.notifications()


@pytest.mark.parametrize("end_order", ["ended_first", "deprovisioned_first"])
def test_every_eventbridge_event_has_the_shape_of_its_example(env, end_order):
    emitted = [n["body"] for n in _drive(env, end_order) if n["channel"] == "eventbridge"]
    matched: set[str] = set()
    for event in emitted:
        name = _corpus_name(event)
        assert name is not None, f"no published example of {event['detail-type']}"
        assert shape(event) == shape(eventbridge_example(name)), name
        matched.add(name)
    assert matched == set(EVENTBRIDGE_EXAMPLES) - set(NOT_EMITTED)
    assert set(NOT_EMITTED) <= set(EVENTBRIDGE_EXAMPLES)


def test_every_sns_message_has_the_shape_of_its_example(env):
    sns = [n for n in _drive(env, "ended_first") if n["channel"] == "sns"]
    matched: set[str] = set()
    for notification in sns:
        name = _sns_corpus_name(notification)
        assert name in SNS_EXAMPLES, f"no published example of {name}"
        message = json.loads(notification["body"]["Message"])
        assert shape(message) == shape(_lenient_json(example_text(name))), name
        assert set(notification["body"]) == set(sns_envelope("{}", notification["topic"]))
        matched.add(name)
    assert matched == set(SNS_EXAMPLES)


def test_the_seller_gets_only_the_proposer_event_of_a_direct_offer(env):
    env.admin.subscribe("contract-product", "111122223333")
    detail_types = [n["topic"] for n in env.admin.notifications() if n["channel"] == "eventbridge"]
    assert detail_types == ["Purchase Agreement Created - Proposer", "License Updated - Manufacturer"]


def test_a_channel_partner_offer_names_the_partner_and_sends_manufacturer_events(env):
    sub = env.admin.subscribe("contract-product", "111122223333", proposer_account_id=PARTNER)
    created, licence = (n["body"] for n in env.admin.notifications() if n["channel"] == "eventbridge")
    assert created["detail-type"] == "Purchase Agreement Created - Manufacturer"
    assert created["detail"]["proposer"] == {"accountId": PARTNER}
    assert licence["detail"]["proposer"] == {"accountId": PARTNER}
    assert created["account"] == licence["account"] == "123456789012"
    assert "resaleAuthorization" not in created["detail"]
    assert env.admin.notify_ending(sub["agreement_id"])["agreement_id"] == sub["agreement_id"]
    assert [n["topic"] for n in env.admin.notifications()][-1] != "Purchase Agreement Ending - Proposer"


def test_resale_authorization_appears_only_when_sold_through_one(env):
    env.admin.subscribe("contract-product", "111122223333", resale_authorization_id=RESALE)
    env.admin.subscribe("contract-product", "444455556666")
    created = [n["body"]["detail"] for n in env.admin.notifications() if n["topic"].startswith("Purchase")]
    assert [d.get("resaleAuthorization") for d in created] == [{"id": RESALE}, None]


@pytest.mark.parametrize(
    "body", [{"proposer_account_id": "12345"}, {"resale_authorization_id": ""}, {"resale_authorization_id": 7}]
)
def test_sale_channel_options_are_checked(env, body):
    with pytest.raises(AdminAPIError) as refused:
        env.admin.subscribe("contract-product", "111122223333", **body)
    assert refused.value.status == 400
