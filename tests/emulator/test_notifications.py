"""Lifecycle notifications in both shapes (EventBridge and legacy SNS), and their delivery channels."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

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


def test_subscribe_emits_both_shapes(env):
    sub = env.subscribe_buyer(free_trial=True)
    eventbridge, sns = _by_channel(env.admin.notifications())
    assert [e["detail-type"] for e in eventbridge] == [
        "Purchase Agreement Created - Manufacturer",
        "License Updated - Manufacturer",
    ]
    created, licence = eventbridge
    for event in eventbridge:
        assert event["source"] == "aws.agreement-marketplace"
        assert event["region"] == "us-east-1"
        assert event["version"] == "0"
        assert {"id", "account", "time", "resources", "detail"} <= set(event)
        detail = event["detail"]
        assert detail["agreement"]["id"] == sub["agreement_id"]
        assert detail["product"]["code"] == sub["product_code"]
        assert detail["product"]["id"].startswith("prod-")
        assert detail["acceptor"]["accountId"] == sub["account_id"]
        assert detail["offer"]["id"] == sub["offer_id"]
    agreement = created["detail"]["agreement"]
    assert (agreement["intent"], agreement["status"]) == ("NEW", "ACTIVE")
    assert {"startTime", "endTime"} <= set(agreement)
    assert "license" not in created["detail"]
    assert licence["detail"]["license"]["arn"] == sub["license_arn"]

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


def test_unsubscribe_and_finalize(env):
    sub = env.subscribe_buyer()
    after = env.admin.notifications()[-1]["seq"]
    env.admin.unsubscribe(sub["agreement_id"])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == ["Purchase Agreement Ended - Manufacturer"]
    assert eventbridge[0]["detail"]["agreement"]["status"] == "CANCELLED"
    assert _sns_actions(sns) == ["unsubscribe-pending"]

    after = env.admin.notifications()[-1]["seq"]
    env.admin.finalize(sub["agreement_id"])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == ["License Deprovisioned - Manufacturer"]
    assert eventbridge[0]["detail"]["license"]["arn"] == sub["license_arn"]
    assert _sns_actions(sns) == ["unsubscribe-success"]


def test_grace_expiry_finalizes_with_notifications(env):
    env.admin.put_config(unsubscribe_grace_seconds=60)
    sub = env.subscribe_buyer()
    env.admin.unsubscribe(sub["agreement_id"])
    env.admin.advance_clock(61)
    _, sns = _by_channel(env.admin.notifications())
    assert _sns_actions(sns)[-1] == "unsubscribe-success"


def test_pending_then_confirm_or_fail(env):
    sub = env.subscribe_buyer(confirm=False)
    assert env.admin.notifications() == []
    env.admin.confirm(sub["agreement_id"])
    assert _sns_actions(_by_channel(env.admin.notifications())[1]) == ["subscribe-success"]
    other = env.subscribe_buyer("444455556666", confirm=False)
    env.admin.fail(other["agreement_id"])
    assert _sns_actions(_by_channel(env.admin.notifications())[1])[-1] == "subscribe-fail"


def test_entitlement_update(env):
    env.product("contract-product", ["seats"], pricing="contract")
    sub = env.admin.subscribe("contract-product", "111122223333")
    after = env.admin.notifications()[-1]["seq"]
    env.admin.put_entitlements(sub["agreement_id"], [{"dimension": "seats", "value": 5}])
    eventbridge, sns = _by_channel(env.admin.notifications(after=after))
    assert [e["detail-type"] for e in eventbridge] == ["License Updated - Manufacturer"]
    assert sns[0]["topic"].endswith(":aws-mp-entitlement-notification-contract-product")
    assert _sns_actions(sns) == ["entitlement-updated"]


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
