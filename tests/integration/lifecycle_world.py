"""A seller's world for lifecycle tests: the real handlers over DynamoDB Local, the emulator, and a lifecycle queue on
moto's SQS (one server per test session, a queue per world), with one movable clock for the app, the emulator and
moto, so a leaving buyer's final hour takes no hour.

Notifications reach the lifecycle handler inside real SQS records, as AWS delivers them; the queue's delayed
messages (a leaving buyer's timer) are received and handled when the test says, as Lambda's SQS event source would
(``local.event_source``), once the moved clock has passed their delay.
"""

from __future__ import annotations

import functools
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from functions.clock import FileOffsetClock
from functions.customers.model import Customer, CustomerRef
from functions.customers.repository import DynamoCustomerRepository
from functions.handlers import lifecycle, registration
from functions.seller_events import RecordingPublisher
from functions.settings import Settings
from functions.usage.ingest import IngestResult, record_usage
from functions.wiring import lifecycle as lifecycle_wiring
from functions.wiring.usage_store import usage_store
from local.apigateway import LambdaContext, proxy_event
from local.event_source import SqsEventSource
from local.marketplace.testing import EmulatorHandle
from local.routing import MotoServer, moto_as_aws
from local.routing import client as routing_client
from tests.aws_corpus import sqs_event


@dataclass(frozen=True)
class TimerQueue:
    """The world's lifecycle queue on moto."""

    sqs: Any
    url: str
    arn: str


@dataclass
class LifecycleWorld:
    settings: Settings
    marketplace: EmulatorHandle
    dynamodb: Any
    queue: TimerQueue
    clock_file: Path
    seen: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clock(self) -> FileOffsetClock:
        return FileOffsetClock(str(self.clock_file))

    @property
    def customers(self) -> DynamoCustomerRepository:
        return DynamoCustomerRepository(self.dynamodb, self.settings.customers_table)

    def customer(self, ref: CustomerRef) -> Customer:
        found = self.customers.get(ref)
        assert found is not None, ref
        return found

    def advance(self, seconds: float) -> None:
        """Move the app's and the emulator's clocks together (the emulator finalizes what its grace ends)."""
        self.clock_file.write_text(str(float(self.clock_file.read_text() or 0) + seconds))
        self.marketplace.admin.advance_clock(seconds)

    def handle(self, bodies: list[dict[str, Any] | str]) -> dict[str, Any]:
        """One SQS batch of these bodies through the lifecycle handler."""
        return self.invoke(sqs_event(bodies, sent_at=self.clock.now()))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The lifecycle handler with one SQS event; item failures are kept in ``failures``."""
        response: dict[str, Any] = lifecycle.handler(event, LambdaContext(function_name="lifecycle"))
        self.failures.extend(response["batchItemFailures"])
        return response

    def deliver(self, channel: str = "eventbridge") -> list[dict[str, Any]]:
        """The emulator's new notifications of ``channel`` to the handler, each in its own SQS batch; then any timer
        that is due."""
        notifications = self.marketplace.admin.notifications(after=self.seen)
        if notifications:
            self.seen = notifications[-1]["seq"]
        bodies = [n["body"] for n in notifications if n["channel"] == channel]
        for body in bodies:
            self.handle([body])
        self.run_timers()
        return bodies

    def run_timers(self) -> int:
        """Deliver the queue's messages whose delay has passed on the moved clock, until none is due."""
        source = SqsEventSource(self.queue.sqs, self.queue.url, self.queue.arn, self.invoke)
        delivered = 0
        while received := source.poll_once():
            delivered += received
        return delivered

    def pass_time(self, seconds: float, step: float = 300) -> None:
        """Let ``seconds`` pass in steps, delivering notifications and timers as they come due."""
        left = seconds
        while left > 0:
            self.advance(min(step, left))
            left -= step
            self.deliver("eventbridge")

    def register(self, token: str, **form: str) -> None:
        body = urllib.parse.urlencode({"x-amzn-marketplace-token": token, **form}).encode()
        event = proxy_event(
            "POST", "/register", "/register", headers={"Content-Type": ["application/x-www-form-urlencoded"]}, body=body
        )
        response = registration.handler(event, LambdaContext(function_name="registration"))
        assert response["statusCode"] == 200, response["body"]

    def use(self, customer: Customer, quantity: int, event_id: str, *, at: datetime | None = None) -> IngestResult:
        naming: dict[str, Any] = (
            {"customer_identifier": customer.ref.customer_identifier}
            if customer.ref.customer_identifier
            else {"license_arn": customer.ref.license_arn, "customer_aws_account_id": customer.customer_aws_account_id}
        )
        event = {
            "event_id": event_id,
            "product_code": customer.ref.product_code,
            "dimension": "api_calls",
            "quantity": quantity,
            "timestamp": (at or self.clock.now()).isoformat(),
            **naming,
        }
        return record_usage(
            [event],
            settings=self.settings,
            customers=self.customers,
            store=usage_store(self.settings),
            clock=self.clock,
        )

    def billed(self, name: str) -> int:
        """Units in the emulator's ledger for a licence ARN or legacy customer identifier."""
        return sum(
            int(r["quantity"])
            for r in self.marketplace.admin.ledger()
            if name in (r.get("license_arn"), r.get("customer_identifier"))
        )

    def published(self) -> list[tuple[str, dict[str, Any]]]:
        publisher = lifecycle_wiring.build(self.settings).lifecycle.publisher
        assert isinstance(publisher, RecordingPublisher)
        return [(e.detail_type, e.detail) for e in publisher.events]


@contextmanager
def lifecycle_world(
    marketplace: EmulatorHandle,
    dynamodb: Any,
    configure: Any,
    scratch: Path,
    products: list[Any],
    **variables: str,
) -> Iterator[LifecycleWorld]:
    clock_file = scratch / "clock-offset-seconds"
    clock_file.write_text("0")
    endpoint = _moto().url
    sqs = routing_client("sqs", endpoint)
    name = f"lifecycle-{uuid.uuid4().hex[:12]}"
    queue = TimerQueue(sqs, sqs.create_queue(QueueName=name)["QueueUrl"], f"arn:aws:sqs:us-east-1:123456789012:{name}")
    with moto_as_aws(FileOffsetClock(str(clock_file))):
        settings = configure(
            products,
            SQS_ENDPOINT=endpoint,
            LIFECYCLE_QUEUE_URL=queue.url,
            CLOCK_FILE=str(clock_file),
            SIGNING_SECRET="lifecycle-test-secret",
            USAGE_SHARDS="2",
            # no usage write is in flight in a test: the final usage may go the moment the cutoff passes
            FINAL_USAGE_DELAY_SECONDS="0",
            **variables,
        )
        yield LifecycleWorld(settings, marketplace, dynamodb, queue, clock_file)


@functools.cache
def _moto() -> MotoServer:
    """One moto server for the test session (its thread ends with the process)."""
    return MotoServer().start()


def now() -> datetime:
    return datetime.now(UTC)


HOUR = timedelta(hours=1)
