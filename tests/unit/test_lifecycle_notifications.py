"""Reading notifications: both shapes, the documented licence ARN without ``arn:``, unknown names acknowledged;
and the billing hour of usage that arrives after a customer's final usage was sealed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.customers.model import CustomerRef
from functions.lifecycle.final_usage import final_usage_message, requested_final_usage
from functions.lifecycle.notifications import MalformedNotification, parse_notification
from functions.lifecycle.state import LifecycleKind
from functions.usage.ingest import after_final_usage

CUTOFF = datetime(2026, 11, 26, 10, 40, tzinfo=UTC)
HOUR = timedelta(hours=1)


def licence_event(arn: str, detail_type: str = "License Deprovisioned - Manufacturer") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": "e-1",
            "detail-type": detail_type,
            "source": "aws.agreement-marketplace",
            "account": "123456789012",
            "time": "2026-11-26T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "agreement": {"id": "agmt-1"},
                "product": {"code": "p1", "id": "prod-1"},
                "acceptor": {"accountId": "111122223333"},
                "license": {"arn": arn},
            },
        }
    )


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:license-manager::294406891311:license:l-0123abc",
        "aws:license-manager::294406891311:license:l-0123abc",  # the documented example
    ],
)
def test_a_licence_event_is_kept_under_its_licence_id_with_or_without_arn_prefix(arn: str) -> None:
    event = parse_notification(licence_event(arn))
    assert event.kind is LifecycleKind.ENDING
    assert event.subject == "LIC#l-0123abc"
    assert event.occurred_at == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_an_unknown_detail_type_is_read_but_marked_unknown() -> None:
    event = parse_notification(licence_event("l-1", detail_type="Something New - Manufacturer"))
    assert not event.known
    assert event.kind is None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("[]", "body"),
        ('{"Type": "Notification"}', "TopicArn"),
        (licence_event("no-licence-id-here"), "detail.license.arn"),
    ],
)
def test_malformed_messages_say_what_is_wrong(body: str, named: str) -> None:
    with pytest.raises(MalformedNotification, match=named):
        parse_notification(body)


def test_the_final_usage_message_names_its_customer_and_nothing_else_is_one() -> None:
    ref = CustomerRef("p1", customer_identifier="c-1")
    assert requested_final_usage(final_usage_message(ref)) == ref
    assert requested_final_usage(licence_event("l-1")) is None
    with pytest.raises(ValueError, match="final_usage"):
        requested_final_usage('{"final_usage": {"product_code": "p1"}}')


def test_usage_after_the_cutoff_is_billed_in_the_hour_after_the_cutoffs() -> None:
    sealed_hour = CUTOFF.replace(minute=0)
    assert after_final_usage(None, sealed_hour, CUTOFF) == sealed_hour + HOUR
    assert after_final_usage(None, sealed_hour - HOUR, CUTOFF) == sealed_hour + HOUR
    # late anyway, to an hour after the cutoff's: unchanged; no cutoff: unchanged
    assert after_final_usage(sealed_hour + 2 * HOUR, sealed_hour, CUTOFF) == sealed_hour + 2 * HOUR
    assert after_final_usage(None, sealed_hour + HOUR, CUTOFF) is None
    assert after_final_usage(None, sealed_hour, None) is None
