"""Reading notifications: every one of AWS's published examples (tests/fixtures/aws) in every way SQS delivers it,
the documented licence ARN without ``arn:``, unknown names acknowledged, malformed ones named; and the billing hour
of usage of a buyer subscribed again after their final usage may have been sent."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from functions.customers.model import CustomerRef
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
    assert event.known
    assert event.account_id == "845735284135"  # the acceptor: the buyer
    assert event.agreement_id in (EXAMPLE_AGREEMENT, EXAMPLE_RENEWAL)
    assert event.occurred_at == datetime(2024, 8, 30, 21, 36, 3, tzinfo=UTC) or example == "ending_proposer.json"
    if example.startswith("license_"):
        assert (event.licence_id, event.product_code) == (EXAMPLE_LICENCE, "aw4fgf5tyo5w2ap6fEXAMPLE")
    else:  # agreement events name no product code and no licence: they are linked by agreement id
        assert (event.licence_id, event.product_code) == (None, "")
        assert event.names_agreement_only


def test_a_renewal_names_the_agreement_it_replaces() -> None:
    event = parse(eventbridge_example("created_proposer_renew.json"))
    assert (event.agreement_id, event.previous_agreement_id) == (EXAMPLE_RENEWAL, EXAMPLE_AGREEMENT)
    assert parse(eventbridge_example("created_proposer_new.json")).previous_agreement_id is None


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


def test_an_unknown_detail_type_is_read_but_marked_unknown() -> None:
    event = parse({**eventbridge_example("ended_proposer.json"), "detail-type": "Something New - Manufacturer"})
    assert not event.known
    assert event.kind is None


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
