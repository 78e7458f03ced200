"""One message of the lifecycle queue: a Marketplace notification, handled once per event id, or a leaving buyer's
timer (see ``functions.lifecycle.service.Lifecycle``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from functions.lifecycle.final_usage import requested_final_usage
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import Lifecycle
from functions.observability import logger


@dataclass
class LifecycleWorker:
    """The lifecycle queue's consumer: each message handled once, by the lifecycle or by the timer it belongs to."""

    lifecycle: Lifecycle
    idempotency: IdempotencyConfig
    run_once: Callable[..., dict[str, Any]]  # run_once(request=...) runs ``handle`` once per event id
    # other capabilities' timers on this queue (the composition root's): each handles its own messages, None for others
    timers: tuple[Callable[[str], str | None], ...] = ()

    def process(self, body: str, *, message_id: str, sent_at: datetime, out_of_time: Callable[[], bool]) -> str:
        """One SQS message: a lifecycle notification (once per event id), a leaving buyer's timer, or another
        capability's timer."""
        ref = requested_final_usage(body)
        if ref is not None:
            outcome = self.lifecycle.continue_ending(ref, out_of_time)
            logger.info("leaving buyer's timer", customer=ref.key, outcome=outcome.status)
            return outcome.status
        for timer in self.timers:
            if (status := timer(body)) is not None:
                return status
        event = parse_notification(body, message_id=message_id, sent_at=sent_at)
        request = {"event_id": event.event_id, "body": body, "message_id": message_id, "sent_at": sent_at.isoformat()}
        return str(self.run_once(request=request)["status"])

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        event = parse_notification(
            request["body"], message_id=request["message_id"], sent_at=datetime.fromisoformat(request["sent_at"])
        )
        outcome = self.lifecycle.handle(event)
        return {"status": outcome.status, "customers": list(outcome.customers)}
