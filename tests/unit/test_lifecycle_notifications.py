"""Reading notifications: every one of AWS's published examples (tests/fixtures/aws) in every way SQS delivers it,
the documented licence ARN without ``arn:``, unknown names acknowledged, malformed ones named; and the billing hour
of usage of a buyer subscribed again after their final usage may have been sent."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from functions.customers.model import CustomerRef
from functions.customers.notices import NoticeKind
from functions.customers.subscription import LifecycleKind
from functions.lifecycle.final_usage import final_usage_message, requested_final_usage
from functions.lifecycle.notifications import LifecycleEvent, MalformedNotification, parse_notification
from functions.usage.ingest import after_final_usage
from tests.aws_corpus import (
    EVENTBRIDGE_EXAMPLES,
    EXAMPLE_AGREEMENT,
    EXAMPLE_LICENCE,
    EXAMPLE_RENEWAL,
    SNS_EXAMPLES,
    Parties,
    eventbridge_example,
    sns_envelope,
    sns_message,
    sns_topic,
)

CUTOFF = datetime(2026, 11, 26, 10, 40, tzinfo=UTC)
HOUR = timedelta(hours=1)
SENT = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
ACTIVATED, ENDING, ENDED, FAILED = (
    LifecycleKind.ACTIVATED,
    LifecycleKind.ENDING,
    LifecycleKind.ENDED,
    LifecycleKind.FAILED,
)

# (kind, subject) each published example is kept as: AWS's meaning of it
EVENTBRIDGE_MEANING = {
    "created_proposer_new.json": (ACTIVATED, f"AGMT#{EXAMPLE_AGREEMENT}"),
    "created_manufacturer.json": (ACTIVATED, f"AGMT#{EXAMPLE_AGREEMENT}"),
    "created_proposer_renew.json": (ACTIVATED, f"AGMT#{EXAMPLE_RENEWAL}"),
    "amended_proposer.json": (None, None),
    "amended_manufacturer.json": (None, None),
    "ended_proposer.json": (ENDING, f"AGMT#{EXAMPLE_AGREEMENT}"),
    "ended_manufacturer.json": (ENDING, f"AGMT#{EXAMPLE_AGREEMENT}"),
    "ending_proposer.json": (None, None),
    "license_updated.json": (ACTIVATED, f"LIC#{EXAMPLE_LICENCE}"),
    "license_deprovisioned.json": (ENDING, f"LIC#{EXAMPLE_LICENCE}"),
    # the seller's other events change no state, but for an approved cancellation: it ends the agreement
    "advisory_issued_manufacturer.json": (None, None),
    "advisory_resolved_manufacturer.json": (None, None),
    "renewal_terms_finalized_proposer.json": (None, None),
    "renewal_upcoming_proposer.json": (None, None),
    "cancellation_pending_approval_proposer.json": (None, None),
    "cancellation_approved_proposer.json": (ENDING, f"AGMT#{EXAMPLE_AGREEMENT}"),
    "cancellation_rejected_proposer.json": (None, None),
    "cancellation_cancelled_proposer.json": (None, None),
    "cancellation_validation_failed_proposer.json": (None, None),
    "billing_adjustment_completed_proposer.json": (None, None),
    "billing_adjustment_failed_proposer.json": (None, None),
}
# the notice each is kept as (kind, status, details), under its agreement: what `cli customers` shows
ADVISORY, CANCELLATION, ADJUSTMENT = NoticeKind.ADVISORY, NoticeKind.CANCELLATION_REQUEST, NoticeKind.BILLING_ADJUSTMENT
REQUEST = {"request_id": "acr-abcdexampleid", "reason_code": "INCORRECT_TERMS_ACCEPTED"}
REFUND = {"request_id": "ba-abcdexampleid", "currency": "USD", "reason_code": "INCORRECT_TERMS_ACCEPTED"}
NOTICE_MEANING: dict[str, tuple[NoticeKind, str, dict[str, str]]] = {
    "ending_proposer.json": (
        NoticeKind.ENDING,
        "180 DAYS",
        {
            "end_time": "2026-12-31T00:00:00Z",
            "days_before_end": "180",
            "auto_renewal": "true",
            "lockout_start_time": "2026-12-01T00:00:00Z",
        },
    ),
    "advisory_issued_manufacturer.json": (ADVISORY, "ISSUED", {"issued_at": "2026-07-02T14:28:00Z"}),
    "advisory_resolved_manufacturer.json": (ADVISORY, "RESOLVED", {"resolved_at": "2026-08-02T11:13:05Z"}),
    "renewal_terms_finalized_proposer.json": (
        NoticeKind.RENEWAL_TERMS_FINALIZED,
        "FINALIZED",
        {
            "end_time": "2026-12-31T00:00:00Z",
            "tcv": "105000.00",
            "currency": "USD",
            "lockout_start_time": "2026-12-01T00:00:00Z",
            "lockout_reached": "false",
        },
    ),
    "renewal_upcoming_proposer.json": (
        NoticeKind.RENEWAL_UPCOMING,
        "UPCOMING",
        {"end_time": "2026-12-31T00:00:00Z", "tcv": "105000.00", "currency": "USD", "lockout_reached": "true"},
    ),
    "cancellation_pending_approval_proposer.json": (CANCELLATION, "PENDING_APPROVAL", REQUEST),
    "cancellation_approved_proposer.json": (CANCELLATION, "APPROVED", REQUEST),
    # the buyer's words on a rejection may be personal data: only AWS's own on a failed validation are kept
    "cancellation_rejected_proposer.json": (CANCELLATION, "REJECTED", REQUEST),
    "cancellation_cancelled_proposer.json": (CANCELLATION, "CANCELLED", REQUEST),
    "cancellation_validation_failed_proposer.json": (
        CANCELLATION,
        "VALIDATION_FAILED",
        {**REQUEST, "status_message": "Agreement has a renewal agreement that must be canceled first"},
    ),
    "billing_adjustment_completed_proposer.json": (
        ADJUSTMENT,
        "COMPLETED",
        {**REFUND, "amount": "-100.00", "invoice_id": "2028746221"},
    ),
    "billing_adjustment_failed_proposer.json": (
        ADJUSTMENT,
        "FAILED",
        {**REFUND, "amount": "-1000.00", "invoice_id": "2028746221"},
    ),
}
SNS_MEANING = {
    "subscription_subscribe-success.txt": ACTIVATED,
    "subscription_subscribe-fail.txt": FAILED,
    "subscription_unsubscribe-pending.txt": ENDING,
    "subscription_unsubscribe-success.txt": ENDED,
    "entitlement_entitlement-updated.txt": None,
}


def parse(body: dict[str, object] | str) -> LifecycleEvent:
    return parse_notification(body if isinstance(body, str) else json.dumps(body), message_id="m-1", sent_at=SENT)


def test_every_published_example_has_its_meaning_written_down() -> None:
    assert set(EVENTBRIDGE_MEANING) == set(EVENTBRIDGE_EXAMPLES)
    assert set(SNS_MEANING) == set(SNS_EXAMPLES)


@pytest.mark.parametrize("example", sorted(EVENTBRIDGE_MEANING))
def test_each_eventbridge_example_names_its_buyer_and_what_happened(example: str) -> None:
    event = parse(eventbridge_example(example))
    assert (event.kind, event.subject) == EVENTBRIDGE_MEANING[example]
    assert (event.known, event.unfamiliar) == (True, False)
    # the acceptor: the buyer (a billing adjustment's event names none)
    assert event.account_id == (None if example.startswith("billing_") else "845735284135")
    assert event.agreement_id in (EXAMPLE_AGREEMENT, EXAMPLE_RENEWAL)
    if example.startswith("license_"):
        assert (event.licence_id, event.product_code) == (EXAMPLE_LICENCE, "aw4fgf5tyo5w2ap6fEXAMPLE")
    else:  # agreement events name no product code and no licence: they are linked by agreement id
        assert (event.licence_id, event.product_code) == (None, "")
        assert event.names_agreement_only


@pytest.mark.parametrize("example", sorted(EVENTBRIDGE_MEANING))
def test_each_sellers_notice_is_read_with_what_it_says_and_nothing_personal(example: str) -> None:
    event = parse(eventbridge_example(example))
    if example not in NOTICE_MEANING:
        assert event.notice is None
        return
    assert event.notice is not None
    kind, status, details = NOTICE_MEANING[example]
    assert (event.notice.kind, event.notice.status, dict(event.notice.details)) == (kind, status, details)
    assert (event.notice.agreement_id, event.notice.at) == (EXAMPLE_AGREEMENT, event.occurred_at)
    # one notice per kind; one per request of a request's kind, so a second request is kept beside the first
    assert event.notice.key == (f"{kind.value}#{details['request_id']}" if "request_id" in details else kind.value)


def test_a_cancellation_requests_outcome_in_the_same_second_outranks_its_start() -> None:
    pending = parse(eventbridge_example("cancellation_pending_approval_proposer.json")).notice
    approved = parse(eventbridge_example("cancellation_approved_proposer.json", at=pending.at if pending else None))
    assert pending is not None
    assert approved.notice is not None
    assert approved.notice.at == pending.at
    assert approved.notice.order > pending.order


def test_a_renewal_names_the_agreement_it_replaces() -> None:
    event = parse(eventbridge_example("created_proposer_renew.json"))
    assert (event.agreement_id, event.previous_agreement_id) == (EXAMPLE_RENEWAL, EXAMPLE_AGREEMENT)
    assert parse(eventbridge_example("created_proposer_new.json")).previous_agreement_id is None


def test_a_replacement_names_the_agreement_it_replaces_as_a_renewal_does() -> None:
    """The Agreement Service's model knows intents NEW, AMEND and REPLACE; AWS's event example of a renewal says
    RENEW. Both readings: an agreement created to take another's place, naming it, is linked to it, so the buyer
    holding the replaced one is not ended when it ends."""
    event = eventbridge_example("created_proposer_renew.json")
    event["detail"]["agreement"]["intent"] = "REPLACE"
    assert parse(event).previous_agreement_id == EXAMPLE_AGREEMENT


def test_a_future_dated_agreement_starts_at_its_start_time_and_an_unreadable_one_at_the_event() -> None:
    event = eventbridge_example("created_proposer_renew.json")
    assert parse(event).agreement_starts_at == datetime(2024, 8, 30, 21, 36, 3, tzinfo=UTC)  # the example's
    event["detail"]["agreement"]["startTime"] = "2024-09-30T00:00:00Z"
    assert parse(event).agreement_starts_at == datetime(2024, 9, 30, tzinfo=UTC)
    event["detail"]["agreement"]["startTime"] = "next month"
    assert parse(event).agreement_starts_at is None
    assert parse(eventbridge_example("amended_proposer.json")).agreement_starts_at is None  # only a Created starts one


@pytest.mark.parametrize("raw_delivery", [False, True], ids=["sns-envelope", "raw-message-delivery"])
@pytest.mark.parametrize("example", sorted(SNS_MEANING))
def test_each_sns_example_is_read_as_published_typos_and_all(example: str, raw_delivery: bool) -> None:
    message = sns_message(example, customer_identifier="CUST0001", product_code="prod-1")
    assert (re.search(r",\s*}\s*$", message) is not None) == example.startswith("entitlement_")  # as published
    assert '" CUST0001"' in message  # and a leading space
    envelope = sns_envelope(message, sns_topic(example, "prod-1"), at=SENT)
    event = parse(message if raw_delivery else envelope)
    assert event.kind is SNS_MEANING[example]
    # the published leading space is not part of the identifier
    assert (event.customer_identifier, event.product_code) == ("CUST0001", "prod-1")
    assert event.subject == ("LEGACY#prod-1#CUST0001" if event.kind else None)
    assert event.entitlements_changed == example.startswith("entitlement_")
    # the subscription topic's published examples all say isFreeTrialTermPresent "true"; the entitlement one: nothing
    assert event.free_trial_term is (True if example.startswith("subscription_") else None)
    # raw delivery has no envelope: the SQS message names and dates it
    assert (event.event_id, event.occurred_at) == (("m-1", SENT) if raw_delivery else (envelope["MessageId"], SENT))


@pytest.mark.parametrize(
    ("flag", "free_trial_term"),
    [('"TRUE"', True), ("true", True), ('"false"', False), ("false", False), ('""', None),
     ('{"nested": "true"}', None), ("null", None), ("1", None)],
)  # fmt: skip
def test_the_free_trial_flag_is_read_as_aws_writes_it_and_anything_else_says_nothing(
    flag: str, free_trial_term: bool | None
) -> None:
    published = sns_message("subscription_subscribe-success.txt", customer_identifier="CUST0001", product_code="p")
    message = published.replace('"isFreeTrialTermPresent":"true"', f'"isFreeTrialTermPresent": {flag}')
    assert message != published
    event = parse(message)
    assert event.kind is ACTIVATED  # an odd flag never costs the subscription itself
    assert event.free_trial_term is free_trial_term
    without = json.loads(published)
    del without["isFreeTrialTermPresent"]
    assert parse(json.dumps(without)).free_trial_term is None


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:license-manager::294406891311:license:l-0123abc",
        "aws:license-manager:us-east-1:123456789012:l-0123abc",  # the documented example's form
    ],
)
def test_a_licence_event_is_kept_under_its_licence_id_with_or_without_arn_prefix(arn: str) -> None:
    event = eventbridge_example("license_deprovisioned.json", Parties(licence_id="l-0123abc"))
    event["detail"]["license"]["arn"] = arn
    assert parse(event).subject == "LIC#l-0123abc"


def test_an_unknown_detail_type_is_read_but_marked_unknown_and_unfamiliar_if_it_is_a_sellers() -> None:
    event = parse({**eventbridge_example("ended_proposer.json"), "detail-type": "Something New - Manufacturer"})
    assert (event.known, event.unfamiliar, event.kind) == (False, True, None)
    # the seller's account buying something itself: a known type, but not the seller's event
    own = parse({**eventbridge_example("ended_proposer.json"), "detail-type": "Purchase Agreement Ended - Acceptor"})
    assert (own.known, own.unfamiliar, own.kind) == (False, False, None)
    other = parse({**eventbridge_example("ended_proposer.json"), "source": "aws.marketplacecatalog"})
    assert (other.known, other.unfamiliar) == (False, False)


def _without(example: str, *path: str) -> dict[str, object]:
    event = eventbridge_example(example)
    *parents, last = path
    node = event
    for key in parents:
        node = node[key]
    del node[last]
    return event


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("[]", "body"),
        ("{not json", "body: is not JSON"),
        ('{"Type": "Notification"}', "TopicArn"),
        (_without("license_updated.json", "detail", "license"), "detail.license"),
        (_without("ended_proposer.json", "detail", "acceptor"), "detail.acceptor"),
        (_without("ended_proposer.json", "detail", "agreement", "id"), "detail.agreement.id"),
        (
            _without("cancellation_approved_proposer.json", "detail", "agreementCancellationRequest", "statusCode"),
            "detail.agreementCancellationRequest.statusCode",
        ),
        (_without("billing_adjustment_failed_proposer.json", "detail", "billingAdjustmentRequest"), "detail.billing"),
        ('{"action": "subscribe-success"}', "Message.customer-identifier"),
        ("[" * 20_000 + "]" * 20_000, "nested too deeply"),
    ],
)
def test_malformed_messages_say_what_is_wrong(body: dict[str, object] | str, named: str) -> None:
    with pytest.raises(MalformedNotification, match=named):
        parse(body)


def test_a_licence_arn_without_a_licence_id_is_malformed() -> None:
    event = eventbridge_example("license_updated.json")
    event["detail"]["license"]["arn"] = "no-licence-id-here"
    with pytest.raises(MalformedNotification, match=r"detail\.license\.arn"):
        parse(event)


def test_the_final_usage_message_names_its_customer_and_nothing_else_is_one() -> None:
    ref = CustomerRef("p1", customer_identifier="c-1")
    assert requested_final_usage(final_usage_message(ref)) == ref
    assert requested_final_usage(json.dumps(eventbridge_example("license_updated.json"))) is None
    with pytest.raises(ValueError, match="final_usage"):
        requested_final_usage('{"final_usage": {"product_code": "p1"}}')


def test_usage_of_a_buyer_subscribed_again_after_the_cutoff_is_billed_in_the_hour_after_the_cutoffs() -> None:
    sealed_hour = CUTOFF.replace(minute=0)
    assert after_final_usage(None, sealed_hour, CUTOFF) == sealed_hour + HOUR
    assert after_final_usage(None, sealed_hour - HOUR, CUTOFF) == sealed_hour + HOUR
    # late anyway, to an hour after the cutoff's: unchanged
    assert after_final_usage(sealed_hour + 2 * HOUR, sealed_hour, CUTOFF) == sealed_hour + 2 * HOUR
    assert after_final_usage(None, sealed_hour + HOUR, CUTOFF) is None
