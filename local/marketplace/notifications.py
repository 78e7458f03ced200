"""Subscription lifecycle notifications in the two shapes AWS Marketplace sends them, and their delivery.

EventBridge (source ``aws.agreement-marketplace``, us-east-1 default bus) is the current channel; the SNS
topics ``aws-mp-subscription-notification-<code>`` / ``aws-mp-entitlement-notification-<code>`` are the
legacy one still used by existing listings. The emulator emits both for every lifecycle change so code can
be tested against either. Every notification lands in the world's queue (polled by the admin API); the
hub additionally pushes it to Python listeners and webhooks.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .clock import iso
from .world import SNS_ACCOUNT, Product, Subscription, World

log = logging.getLogger(__name__)

EVENT_SOURCE = "aws.agreement-marketplace"
EVENT_REGION = "us-east-1"
AGREEMENT_CREATED = "Purchase Agreement Created - Manufacturer"
AGREEMENT_ENDED = "Purchase Agreement Ended - Manufacturer"
LICENSE_UPDATED = "License Updated - Manufacturer"
LICENSE_DEPROVISIONED = "License Deprovisioned - Manufacturer"

Listener = Callable[[dict[str, Any]], None]


def subscription_topic(product_code: str) -> str:
    return f"arn:aws:sns:us-east-1:{SNS_ACCOUNT}:aws-mp-subscription-notification-{product_code}"


def entitlement_topic(product_code: str) -> str:
    return f"arn:aws:sns:us-east-1:{SNS_ACCOUNT}:aws-mp-entitlement-notification-{product_code}"


def _agreement_end(sub: Subscription, product: Product, start: datetime) -> str:
    if sub.ended_at or sub.unsubscribed_at:
        return str(sub.unsubscribed_at or sub.ended_at)
    # Pay-as-you-go SaaS agreements have no natural end; contracts default to a year.
    years = 1 if product.pricing == "contract" else 100
    return iso(start + timedelta(days=365 * years))


def eventbridge_event(
    detail_type: str, sub: Subscription, product: Product, config: dict[str, Any], now: datetime
) -> dict[str, Any]:
    seller = str(config["seller_account_id"])
    detail: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "catalog": "AWSMarketplace",
        "agreement": {"id": sub.agreement_id},
        "acceptor": {"accountId": sub.account_id},
        "proposer": {"accountId": seller},
        "offer": {"id": sub.offer_id},
        "product": {"id": product.id, "code": product.code, "title": product.name},
    }
    resources = [f"arn:aws:aws-marketplace:{EVENT_REGION}:{seller}:AWSMarketplace/Agreement/{sub.agreement_id}"]
    if detail_type in (AGREEMENT_CREATED, AGREEMENT_ENDED):
        start = sub.confirmed_at or sub.created_at
        ended = detail_type == AGREEMENT_ENDED
        detail["agreement"].update(
            {
                "intent": "NEW",
                "status": "CANCELLED" if ended else "ACTIVE",
                "createdTime": sub.created_at,
                "startTime": start,
                "endTime": _agreement_end(sub, product, datetime.fromisoformat(start.replace("Z", "+00:00"))),
            }
        )
        detail["isFreeTrial"] = sub.free_trial
    else:
        arn = sub.license_arn
        if config.get("eventbridge_license_arn_without_prefix"):
            arn = arn.removeprefix("arn:")
        detail["license"] = {"arn": arn}
        resources.append(sub.license_arn)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": EVENT_SOURCE,
        "account": seller,
        "time": iso(now.replace(microsecond=0)),
        "region": EVENT_REGION,
        "resources": resources,
        "detail": detail,
    }


def sns_notification(topic_arn: str, action: str, sub: Subscription, now: datetime) -> dict[str, Any]:
    message = {
        "action": action,
        "customer-identifier": sub.customer_identifier,
        "product-code": sub.product_code,
        "offer-identifier": sub.offer_id,
        "isFreeTrialTermPresent": "true" if sub.free_trial else "false",
    }
    message_id = str(uuid.uuid4())
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Message": json.dumps(message),
        "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "SignatureVersion": "1",
        # Not a real signature: nothing in a local run can verify one against AWS's certificate.
        "Signature": "EMULATOR",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-emulator.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}",
    }


# What each lifecycle step emits, per channel.
LIFECYCLE: dict[str, tuple[list[str], list[tuple[str, str]]]] = {
    # step: ([eventbridge detail-types], [(sns topic kind, sns action)])
    "subscribe": ([AGREEMENT_CREATED, LICENSE_UPDATED], [("subscription", "subscribe-success")]),
    "subscribe_fail": ([], [("subscription", "subscribe-fail")]),
    "unsubscribe": ([AGREEMENT_ENDED], [("subscription", "unsubscribe-pending")]),
    "finalize": ([LICENSE_DEPROVISIONED], [("subscription", "unsubscribe-success")]),
    "entitlements": ([LICENSE_UPDATED], [("entitlement", "entitlement-updated")]),
}


class NotificationHub:
    """Appends notifications to the world and delivers them to listeners and webhooks.

    Delivery happens in :meth:`flush`, which the server calls after releasing the world lock, so a
    listener may call back into the emulator (for example GetEntitlements) without deadlocking.
    """

    def __init__(self, webhook_attempts: int = 4, webhook_backoff: float = 0.2) -> None:
        self._listeners: list[Listener] = []
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._webhooks: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self.webhook_attempts = webhook_attempts
        self.webhook_backoff = webhook_backoff
        self.webhook_failures: list[dict[str, Any]] = []
        self.webhook_deliveries = 0

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.remove(listener)

    def emit(self, world: World, step: str, sub: Subscription, now: datetime) -> list[dict[str, Any]]:
        """Record the notifications of one lifecycle step (caller holds the world lock)."""
        product = world.products[sub.product_code]
        detail_types, sns = LIFECYCLE[step]
        emitted: list[dict[str, Any]] = []
        for detail_type in detail_types:
            body = eventbridge_event(detail_type, sub, product, world.config, now)
            emitted.append(self._append(world, "eventbridge", detail_type, body, sub, step, now))
        for kind, action in sns:
            topic = (
                subscription_topic(sub.product_code) if kind == "subscription" else entitlement_topic(sub.product_code)
            )
            body = sns_notification(topic, action, sub, now)
            emitted.append(self._append(world, "sns", topic, body, sub, step, now))
        return emitted

    def _append(
        self, world: World, channel: str, topic: str, body: dict[str, Any], sub: Subscription, step: str, now: datetime
    ) -> dict[str, Any]:
        world.notification_seq += 1
        entry = {
            "seq": world.notification_seq,
            "channel": channel,
            "topic": topic,
            "step": step,
            "agreement_id": sub.agreement_id,
            "time": iso(now),
            "body": body,
        }
        world.notifications.append(entry)
        with self._lock:
            self._pending.append(entry)
        return entry

    def discard_pending(self) -> None:
        with self._lock:
            self._pending.clear()

    def flush(self, webhooks: list[str]) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            listeners = list(self._listeners)
        for entry in pending:
            for listener in listeners:
                try:
                    listener(entry)
                except Exception:
                    log.exception("notification listener failed")
            for url in webhooks:
                self._webhooks.put((url, entry))

    # -- webhook worker -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="marketplace-webhooks", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._webhooks.put(None)
            self._worker.join(timeout=5)
            self._worker = None

    def _run(self) -> None:
        while True:
            item = self._webhooks.get()
            if item is None:
                return
            url, entry = item
            self._deliver(url, entry)

    def _deliver(self, url: str, entry: dict[str, Any]) -> None:
        data = json.dumps(entry).encode()
        error = ""
        for attempt in range(self.webhook_attempts):
            request = urllib.request.Request(
                url, data=data, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if 200 <= response.status < 300:
                        self.webhook_deliveries += 1
                        return
                    error = f"HTTP {response.status}"
            except Exception as exc:  # any failure is retried the same way
                error = repr(exc)
            time.sleep(self.webhook_backoff * (2**attempt))
        self.webhook_failures.append({"url": url, "seq": entry["seq"], "error": error})
        log.warning("webhook %s failed for notification %s: %s", url, entry["seq"], error)
