"""Which lifecycle step sends which notification (EventBridge and legacy SNS), and their delivery channels.

Shapes, field for field, are checked against AWS's examples in test_event_shapes.py."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ..admin_client import AdminAPIError
from ..testing import usage_record
from .helpers import NOW, iso


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    return marketplace


def _by_channel(notifications):
    eventbridge = [n["body"] for n in notifications if n["channel"] == "eventbridge"]
    sns = [n for n in notifications if n["channel"] == "sns"]
    return eventbridge, sns


def _sns_actions(sns):
    return [json.loads(n["body"]["Message"])["action"] for n in sns]


def _eventbridge_after(env, after):
    return [n["body"] for n in env.admin.notifications(after=after) if n["channel"] == "eventbridge"]


def _last_seq(env):
    return env.admin.notifications()[-1]["seq"]


def test_subscribe_emits_both_shapes(env):
    sub = env.subscribe_buyer(free_trial=True)
    eventbridge, sns = _by_channel(env.admin.notifications())
    assert [e["detail-type"] for e in eventbridge] == [
        "Purchase Agreement Created - Proposer",
        "License Updated - Manufacturer",
    ]
    created, licence = eventbridge
    for event in eventbridge:
        assert event["source"] == "aws.agreement-marketplace"
        assert (event["region"], event["version"], event["account"]) == ("us-east-1", "0", "123456789012")
        assert event["resources"] == [f"arn:aws:aws-marketplace::aws:agreement:{sub['agreement_id']}"]
        assert event["time"] == iso(NOW)
        detail = event["detail"]
        assert (detail["catalog"], detail["agreement"]["id"]) == ("AWSMarketplace", sub["agreement_id"])
        assert detail["acceptor"] == {"accountId": sub["account_id"]}
        assert detail["proposer"] == {"accountId": "123456789012"}
        assert detail["offer"] == {"id": sub["offer_id"]}
    assert created["id"] != licence["id"]
    # Agreement events carry no product, licence or free-trial flag (AWS's examples have none).
    assert set(created["detail"]) == {"requestId", "catalog", "agreement", "acceptor", "proposer", "offer"}
    assert created["detail"]["agreement"] == {
        "id": sub["agreement_id"],
        "intent": "NEW",
        "status": "ACTIVE",
        "acceptanceTime": iso(NOW),
        "startTime": iso(NOW),
        "endTime": iso(NOW + timedelta(days=365 * 100)),  # pay-as-you-go: open-ended
    }
    product = next(p for p in env.admin.list_products() if p["code"] == sub["product_code"])
    assert licence["detail"]["product"] == {"code": sub["product_code"], "id": product["id"]}

    (notification,) = sns
    envelope = notification["body"]
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == (
        f"arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-{sub['product_code']}"
    )
    assert {"MessageId", "Timestamp"} <= set(envelope)
    message = json.loads(envelope["Message"])
    assert message == {
        "action": "subscribe-success",
        "customer-identifier": sub["customer_identifier"],
        "product-code": sub["product_code"],
        "offer-identifier": sub["offer_id"],
        "isFreeTrialTermPresent": "true",
    }


def test_event_times_are_whole_seconds_even_when_the_clock_is_not(env):
    env.admin.set_clock("2026-11-18T10:30:00.750Z")
    env.subscribe_buyer()
    created = _by_channel(env.admin.notifications())[0][0]
    assert created["time"] == "2026-11-18T10:30:00Z"
    assert created["detail"]["agreement"]["acceptanceTime"] == "2026-11-18T10:30:00Z"


@pytest.mark.parametrize(
    ("arn_format", "expected"),
    [
        ("documented", "aws:license-manager:us-east-1:123456789012:{licence}"),
        ("arn", "arn:aws:license-manager::294406891311:license:{licence}"),
    ],
)
def test_license_arn_in_events_follows_the_configured_reading(env, arn_format, expected):
    env.admin.put_config(eventbridge_license_arn_format=arn_format)
    sub = env.subscribe_buyer()
    licence_id = sub["license_arn"].rsplit(":", 1)[-1]
    assert licence_id.startswith("l-")
    licence = _by_channel(env.admin.notifications())[0][1]
    assert licence["detail"]["license"]["arn"] == expected.format(licence=licence_id)


def test_config_switches_refuse_unknown_readings(env):
    for key in ("eventbridge_license_arn_format", "end_order"):
        with pytest.raises(AdminAPIError) as refused:
            env.admin.put_config({key: "sometimes"})
        assert refused.value.status == 400


def _meter_status(env, sub):
    client = env.metering(max_attempts=1)
    return client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, NOW)])["Results"][0]["Status"]


def test_ended_first_unsubscribe_sends_ended_and_finalize_deprovisioned(env):
    sub = env.subscribe_buyer()
    after = _last_seq(env)
    env.admin.unsubscribe(sub["agreement_id"])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == ["Purchase Agreement Ended - Proposer"]
    assert eventbridge[0]["detail"]["agreement"] == {"id": sub["agreement_id"], "status": "CANCELLED"}
    assert _sns_actions(sns) == ["unsubscribe-pending"]
    assert _meter_status(env, sub) == "Success"

    after = _last_seq(env)
    env.admin.finalize(sub["agreement_id"])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == ["License Deprovisioned - Manufacturer"]
    assert eventbridge[0]["detail"]["agreement"] == {"id": sub["agreement_id"]}
    assert _sns_actions(sns) == ["unsubscribe-success"]
    assert _meter_status(env, sub) == "CustomerNotSubscribed"


def test_deprovisioned_first_unsubscribe_sends_both_and_finalize_no_event(env):
    env.admin.put_config(end_order="deprovisioned_first")
    sub = env.subscribe_buyer()
    after = _last_seq(env)
    env.admin.unsubscribe(sub["agreement_id"])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == [
        "License Deprovisioned - Manufacturer",
        "Purchase Agreement Ended - Proposer",
    ]
    assert _sns_actions(sns) == ["unsubscribe-pending"]
    assert env.admin.get_subscription(sub["agreement_id"])["status"] == "unsubscribe_pending"
    assert _meter_status(env, sub) == "Success"

    after = _last_seq(env)
    env.admin.finalize(sub["agreement_id"])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert eventbridge == []
    assert _sns_actions(sns) == ["unsubscribe-success"]
    assert _meter_status(env, sub) == "CustomerNotSubscribed"


@pytest.mark.parametrize(
    ("end_order", "at_expiry"),
    [("ended_first", ["License Deprovisioned - Manufacturer"]), ("deprovisioned_first", [])],
)
def test_grace_expiry_finalizes_with_notifications(env, end_order, at_expiry):
    env.admin.put_config(unsubscribe_grace_seconds=60, end_order=end_order)
    sub = env.subscribe_buyer()
    env.admin.unsubscribe(sub["agreement_id"])
    after = _last_seq(env)
    env.admin.advance_clock(61)
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == at_expiry
    assert _sns_actions(sns) == ["unsubscribe-success"]
    assert env.admin.get_subscription(sub["agreement_id"])["status"] == "ended"


def test_pending_then_confirm_or_fail(env):
    sub = env.subscribe_buyer(confirm=False)
    assert env.admin.notifications() == []
    env.admin.confirm(sub["agreement_id"])
    assert _sns_actions(_by_channel(env.admin.notifications())[1]) == ["subscribe-success"]
    other = env.subscribe_buyer("444455556666", confirm=False)
    after = _last_seq(env)
    env.admin.fail(other["agreement_id"])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert (eventbridge, _sns_actions(sns)) == ([], ["subscribe-fail"])


def test_entitlement_update(env):
    env.product("contract-product", ["seats"], pricing="contract")
    sub = env.admin.subscribe("contract-product", "111122223333")
    after = _last_seq(env)
    env.admin.put_entitlements(sub["agreement_id"], [{"dimension": "seats", "value": 5}])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == [
        "Purchase Agreement Amended - Proposer",
        "License Updated - Manufacturer",
    ]
    assert {e["detail"]["agreement"]["id"] for e in eventbridge} == {sub["agreement_id"]}
    assert eventbridge[0]["detail"]["agreement"]["intent"] == "AMEND"
    assert sns[0]["topic"].endswith(":aws-mp-entitlement-notification-contract-product")
    # The entitlement topic's message has only these three keys (AWS's example).
    assert json.loads(sns[0]["body"]["Message"]) == {
        "action": "entitlement-updated",
        "customer-identifier": sub["customer_identifier"],
        "product-code": "contract-product",
    }


def test_advance_notice_of_the_end(env):
    env.product("contract-product", ["seats"], pricing="contract", name="Seats")
    sub = env.admin.subscribe("contract-product", "111122223333")
    after = _last_seq(env)
    env.admin.notify_ending(sub["agreement_id"], days_before_end=90)
    ((notification),) = env.admin.notifications(after=after)
    ending = notification["body"]
    assert ending["detail-type"] == "Purchase Agreement Ending - Proposer"
    assert ending["detail"]["agreement"]["daysBeforeEndTime"] == 90
    assert ending["detail"]["agreement"]["endTime"] == iso(NOW + timedelta(days=365))
    assert ending["detail"]["renewalSummary"] == {
        "lockoutStartTime": iso(NOW + timedelta(days=335)),
        "disabledBy": None,
    }
    assert ending["detail"]["proposer"] == {"name": "Emulated Seller", "accountId": "123456789012"}
    assert ending["detail"]["product"]["title"] == "Seats"


def test_advance_notice_needs_a_day_count_and_an_active_agreement(env):
    sub = env.subscribe_buyer()
    for days in (0, "30", True):
        with pytest.raises(AdminAPIError) as refused:
            env.admin.notify_ending(sub["agreement_id"], days_before_end=days)
        assert refused.value.status == 400
    env.admin.unsubscribe(sub["agreement_id"])
    with pytest.raises(AdminAPIError) as refused:
        env.admin.notify_ending(sub["agreement_id"])
    assert refused.value.status == 409


def test_concurrent_agreements_each_have_their_own_agreement_and_licence(env):
    first = env.subscribe_buyer()
    second = env.subscribe_buyer(concurrent=True)
    assert first["agreement_id"] != second["agreement_id"]
    assert first["license_arn"] != second["license_arn"]
    licences = [e["detail"] for e in _by_channel(env.admin.notifications())[0] if "license" in e["detail"]]
    assert [d["agreement"]["id"] for d in licences] == [first["agreement_id"], second["agreement_id"]]
    assert len({d["license"]["arn"] for d in licences}) == 2


def test_listener_hook(marketplace_server, env):
    received: list[dict[str, Any]] = []
    marketplace_server.add_listener(received.append)
    try:
        env.subscribe_buyer()
    finally:
        marketplace_server.remove_listener(received.append)
    assert [n["seq"] for n in received] == [n["seq"] for n in env.admin.notifications()]


class _Hook(BaseHTTPRequestHandler):
    failures_left = 1
    received: list[dict[str, Any]] = []
    done = threading.Event()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(503)
        else:
            cls.received.append(body)
            self.send_response(204)
            if len(cls.received) >= 3:
                cls.done.set()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_delivery_with_retry(env):
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        env.admin.add_webhook(f"http://127.0.0.1:{hook.server_address[1]}/events")
        env.subscribe_buyer()
        assert _Hook.done.wait(timeout=10)
    finally:
        hook.shutdown()
        hook.server_close()
    assert [n["channel"] for n in _Hook.received] == ["eventbridge", "eventbridge", "sns"]
    assert env.admin.webhooks()["failures"] == []
