"""What each lifecycle step sends, on which channel, and the delivery of it.

EventBridge (source ``aws.agreement-marketplace``, us-east-1 default bus; shapes in ``eventbridge``) is the current
channel; the SNS topics ``aws-mp-subscription-notification-<code>`` / ``aws-mp-entitlement-notification-<code>``
(shapes in ``sns``) the legacy one still used by existing listings. A step sends what AWS sends on each channel
(most steps on both), so code can be tested against either. Every notification lands in the world's queue (polled
by the admin API); the hub additionally pushes it to Python listeners and webhooks. README.md ("Notifications")
gives each rule's source.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import sns
from .clock import iso
from .eventbridge import EventFactory
from .world import Subscription, World

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Message:
    channel: str  # "eventbridge" | "sns"
    topic: str  # the detail-type, or the SNS topic ARN
    agreement_id: str
    body: dict[str, Any]


# The legacy SNS message of each step (topic kind, action); steps not listed send none. A renewal's new contract
# term is an entitlement change, which the entitlement topic announces ("entitlement-updated").
SNS_PLAN: dict[str, tuple[str, str]] = {
    "subscribe": (sns.SUBSCRIPTION, "subscribe-success"),
    "subscribe_fail": (sns.SUBSCRIPTION, "subscribe-fail"),
    "unsubscribe": (sns.SUBSCRIPTION, "unsubscribe-pending"),
    "finalize": (sns.SUBSCRIPTION, "unsubscribe-success"),
    "entitlements": (sns.ENTITLEMENT, "entitlement-updated"),
    "renew": (sns.ENTITLEMENT, "entitlement-updated"),
}


def _eventbridge_plan(
    world: World, events: EventFactory, step: str, sub: Subscription, extra: dict[str, Any]
) -> list[tuple[Subscription, dict[str, Any] | None]]:
    """(agreement, event) pairs of one step in the order AWS sends them; None where the seller gets no event."""
    deprovisioned_first = world.config["end_order"] == "deprovisioned_first"
    if step == "subscribe":
        return [(sub, events.created(sub)), (sub, events.license_updated(sub))]
    if step == "unsubscribe" and deprovisioned_first:
        return [(sub, events.license_deprovisioned(sub)), (sub, events.ended(sub))]
    if step == "unsubscribe":
        return [(sub, events.ended(sub))]
    if step == "finalize":
        return [] if deprovisioned_first else [(sub, events.license_deprovisioned(sub))]
    if step == "entitlements":
        return [(sub, events.amended(sub)), (sub, events.license_updated(sub))]
    if step == "renew":
        renewed = world.subscriptions[str(sub.previous_agreement_id)]
        return [
            (sub, events.created(sub)),
            (sub, events.license_updated(sub)),
            (renewed, events.ended(renewed, "RENEWED")),
        ]
    if step == "ending":
        return [(sub, events.ending(sub, int(extra["days_before_end"])))]
    if step == "cancellation":
        return [(sub, events.cancellation(sub, extra["cancellation"]))]
    if step == "billing_adjustment":
        return [(sub, events.billing_adjustment(sub, extra["adjustment"]))]
    return []


def messages(world: World, step: str, sub: Subscription, now: datetime, **extra: Any) -> list[Message]:
    """The messages of one lifecycle step: its EventBridge events, then its SNS message."""
    events = EventFactory(world.config, world.products[sub.product_code], now)
    sent = [
        Message("eventbridge", body["detail-type"], about.agreement_id, body)
        for about, body in _eventbridge_plan(world, events, step, sub, extra)
        if body is not None
    ]
    if step in SNS_PLAN:
        kind, action = SNS_PLAN[step]
        sent.append(
            Message(
                "sns", sns.topic_arn(kind, sub.product_code), sub.agreement_id, sns.notification(kind, action, sub, now)
            )
        )
    return sent


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

    def emit(self, world: World, step: str, sub: Subscription, now: datetime, **extra: Any) -> list[dict[str, Any]]:
        """Record the notifications of one lifecycle step (caller holds the world lock)."""
        return [self._append(world, message, step, now) for message in messages(world, step, sub, now, **extra)]

    def _append(self, world: World, message: Message, step: str, now: datetime) -> dict[str, Any]:
        world.notification_seq += 1
        entry = {
            "seq": world.notification_seq,
            "channel": message.channel,
            "topic": message.topic,
            "step": step,
            "agreement_id": message.agreement_id,
            "time": iso(now),
            "body": message.body,
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
