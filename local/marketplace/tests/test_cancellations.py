"""SendAgreementCancellationRequest through an unmodified boto3 client: the request in the model's shape, its event in
the seller guide's, a retry with its clientToken answered with the same request and no second event, the buyer's
approval (the agreement ends) or rejection (it goes on), and each modelled error where the emulator answers it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ..model_validation import output_violations

SERVICE = "marketplace-agreement"

PRODUCT = "cancel-product"
BUYER = "111122223333"
CHANNEL_PARTNER = "999988887777"


@pytest.fixture
def env(marketplace: Any) -> Any:
    marketplace.admin.create_product(PRODUCT, ["api_calls"])
    return marketplace


def cancellation_events(env: Any, after: int = 0) -> list[dict[str, Any]]:
    return [
        n["body"]
        for n in env.admin.notifications(after=after)
        if n["channel"] == "eventbridge" and n["body"]["detail-type"].startswith("Agreement Cancellation Request")
    ]


def test_a_request_is_pending_approval_in_the_models_shape_and_its_event_names_it(env: Any) -> None:
    sub = env.admin.subscribe(PRODUCT, BUYER)
    client, raw = env.agreement(), []
    # botocore ignores members it does not know: only the raw answer checked against its model finds a misnamed one
    client.meta.events.register("after-call.*", lambda http_response, **_: raw.append(http_response.content))
    answer = client.send_agreement_cancellation_request(
        agreementId=sub["agreement_id"], reasonCode="TEST_AGREEMENT", description="a go-live test", clientToken="t-1"
    )
    assert output_violations(SERVICE, "SendAgreementCancellationRequest", json.loads(raw[0])) == []
    assert (answer["agreementId"], answer["status"], answer["reasonCode"]) == (
        sub["agreement_id"],
        "PENDING_APPROVAL",
        "TEST_AGREEMENT",
    )
    assert answer["agreementCancellationRequestId"].startswith("acr-")
    (event,) = cancellation_events(env)
    assert event["detail-type"] == "Agreement Cancellation Request Pending Approval - Proposer"
    assert event["resources"] == []
    request = event["detail"]["agreementCancellationRequest"]
    assert (request["id"], request["statusCode"], request["reasonMessage"]) == (
        answer["agreementCancellationRequestId"],
        "PENDING_APPROVAL",
        "a go-live test",
    )
    assert event["detail"]["agreement"]["acceptorId"] == BUYER


def test_a_retry_with_its_client_token_is_the_same_request_and_sends_no_second_event(env: Any) -> None:
    sub = env.admin.subscribe(PRODUCT, BUYER)
    client = env.agreement()
    first = client.send_agreement_cancellation_request(
        agreementId=sub["agreement_id"], reasonCode="TEST_AGREEMENT", clientToken="retry-1"
    )
    again = client.send_agreement_cancellation_request(
        agreementId=sub["agreement_id"], reasonCode="TEST_AGREEMENT", clientToken="retry-1"
    )
    assert again["agreementCancellationRequestId"] == first["agreementCancellationRequestId"]
    assert len(cancellation_events(env)) == 1
    with pytest.raises(ClientError) as reused:  # the token of another request
        client.send_agreement_cancellation_request(
            agreementId=sub["agreement_id"], reasonCode="OTHER", clientToken="retry-1"
        )
    assert reused.value.response["Error"]["Code"] == "ConflictException"


def test_approved_the_agreement_ends_and_rejected_it_goes_on(env: Any) -> None:
    client = env.agreement()
    approved, rejected = env.admin.subscribe(PRODUCT, BUYER), env.admin.subscribe(PRODUCT, "444455556666")
    for sub in (approved, rejected):
        client.send_agreement_cancellation_request(agreementId=sub["agreement_id"], reasonCode="TEST_AGREEMENT")
    seen = env.admin.notifications()[-1]["seq"]
    # cancelled as a buyer's own cancellation is: metered until finalized after the grace
    assert env.admin.approve_cancellation(approved["agreement_id"])["status"] == "unsubscribe_pending"
    env.admin.finalize(approved["agreement_id"])
    types = [n["body"]["detail-type"] for n in env.admin.notifications(after=seen) if n["channel"] == "eventbridge"]
    assert types == [
        "Agreement Cancellation Request Approved - Proposer",
        "Purchase Agreement Ended - Proposer",
        "License Deprovisioned - Manufacturer",
    ]
    assert env.admin.reject_cancellation(rejected["agreement_id"])["status"] == "active"
    (event,) = cancellation_events(env, after=env.admin.notifications()[-2]["seq"])
    assert event["detail"]["agreementCancellationRequest"]["statusCode"] == "REJECTED"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown agreement", "ResourceNotFoundException"),
        ("a channel partner's agreement", "AccessDeniedException"),
        ("an ended agreement", "ConflictException"),
        ("a request already pending", "ConflictException"),
        ("a reason the model does not list", "ValidationException"),
    ],
)
def test_each_error_where_the_emulator_answers_it(env: Any, case: str, code: str) -> None:
    client = env.agreement()
    reason = "TEST_AGREEMENT"
    if case == "unknown agreement":
        agreement = "agmt-nosuchagreement"
    elif case == "a channel partner's agreement":
        agreement = env.admin.subscribe(PRODUCT, BUYER, proposer_account_id=CHANNEL_PARTNER)["agreement_id"]
    else:
        agreement = env.admin.subscribe(PRODUCT, BUYER)["agreement_id"]
    if case == "an ended agreement":
        env.admin.finalize(agreement)
    if case == "a request already pending":
        client.send_agreement_cancellation_request(agreementId=agreement, reasonCode=reason)
    if case == "a reason the model does not list":
        reason = "BECAUSE"
    with pytest.raises(ClientError) as refused:
        client.send_agreement_cancellation_request(agreementId=agreement, reasonCode=reason)
    assert refused.value.response["Error"]["Code"] == code
    if case != "a request already pending":
        assert cancellation_events(env) == []
