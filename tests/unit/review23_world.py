"""Review of issue 23 (scaffolding for its failing tests): the real ingest, lifecycle, final-usage step and flush on
the unit tests' fakes, with one buyer whose life is driven by AWS's published events."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import AuditDeps, HourReconciled, Reconciled, reconcile_due
from functions.flush.customer import CustomerUsageIncomplete, final_usage_sender
from functions.flush.dry_run import DryRunMeteringGateway
from functions.flush.records import BatchOutcome, MeteringError, MeteringRecord, RecordResult
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import Lifecycle
from functions.seller_events import RecordingPublisher
from functions.settings import Dimension, Product, Settings
from functions.storage.errors import StorageError
from functions.usage.ingest import IngestResult, UsageRejected, record_usage
from functions.usage.model import MAX_INTEGER_QUANTITY
from tests.aws_corpus import Parties, eventbridge_example, sns_envelope, sns_message, sns_topic
from tests.fakes import (
    FakeAgreementEntitlements,
    FakeMarketplace,
    InMemoryCustomers,
    InMemoryLedger,
    InMemoryLifecycleStore,
    InMemoryUsage,
    Killed,
    LoggedMarketplace,
    Timers,
)

T0 = datetime(2026, 11, 26, 8, tzinfo=UTC)
PRODUCT = Product(code="prod-code-1", name="P", dimensions=(Dimension("calls"),))
ACCOUNT = "845735284135"
LICENCE = "l-0000000000000000000000000000abcd"
VISIBILITY_TIMEOUT = 720.0  # the lifecycle queue's (6 x the function's 120 s timeout)
LICENCE_ARN = f"arn:aws:license-manager::294406891311:license:{LICENCE}"


class NoEntitlements:
    def current(self, customer: Customer) -> tuple[dict[str, object], ...]:
        return ()


class World:
    def __init__(
        self,
        product: Product = PRODUCT,
        usage: type[InMemoryUsage] = InMemoryUsage,
        marketplace: Callable[[ManualClock], FakeMarketplace] = lambda clock: FakeMarketplace(),
    ) -> None:
        self.product = product
        self.clock = ManualClock(T0)
        self.settings = Settings(products=(product,))
        self.customers = InMemoryCustomers(InMemoryLifecycleStore())
        self.usage = usage(self.clock)
        self.ledger = InMemoryLedger()
        self.ledger.next_hour = T0  # a stack already running: every hour before T0 sealed
        self.marketplace = marketplace(self.clock)
        self.deps = FlushDeps(
            settings=self.settings,
            usage=self.usage,
            ledger=self.ledger,
            customers=self.customers,
            gateway=self.marketplace,
            clock=self.clock,
            backoff=Backoff(sleep=lambda _: None),
            workers=1,
        )
        self.timers = Timers(send_usage=final_usage_sender(self.deps))
        self.lifecycle = Lifecycle(
            settings=self.settings,
            events=self.customers.lifecycle_store,
            customers=self.customers,
            entitlements=NoEntitlements(),
            agreement_entitlements=FakeAgreementEntitlements(),
            publisher=RecordingPublisher(),
            final_usage=self.timers,
            clock=self.clock,
        )
        self.ref = CustomerRef(product.code, license_arn=LICENCE_ARN)
        self.parties = Parties(
            buyer_account=ACCOUNT,
            agreement_id="agmt-0000000000000000000000001",
            licence_id=LICENCE,
            product_code=product.code,
        )

    def at(self, moment: datetime) -> None:
        """Time passes to ``moment``: the flush runs on its hourly schedule (at :06), the lifecycle queue delivers
        each timer when due."""
        while True:
            due = [(self.clock.now() + timedelta(seconds=d), ref) for ref, d in self.timers.scheduled]
            next_flush = self.clock.now().replace(minute=6, second=0, microsecond=0)
            if next_flush <= self.clock.now():
                next_flush += timedelta(hours=1)
            first_timer = min(due, default=None, key=lambda d: d[0])
            step = min([t for t in (next_flush, first_timer[0] if first_timer else None) if t is not None])
            if step > moment:
                break
            self.clock.set(step)
            if first_timer is not None and step == first_timer[0]:
                self.timers.scheduled = [(ref, (d - step).total_seconds()) for d, ref in due if (d, ref) != first_timer]
                try:
                    self.lifecycle.continue_ending(first_timer[1], lambda: False)
                except (CustomerUsageIncomplete, MeteringError, StorageError):
                    # the message fails: SQS delivers it again after the queue's visibility timeout
                    self.timers.scheduled.append((first_timer[1], VISIBILITY_TIMEOUT))
            else:
                self.timers.scheduled = [(ref, (d - step).total_seconds()) for d, ref in due]
                flush(self.deps, remaining_ms=lambda: 900_000)
        self.timers.scheduled = [
            (ref, (self.clock.now() + timedelta(seconds=d) - moment).total_seconds())
            for ref, d in self.timers.scheduled
        ]
        self.clock.set(moment)

    def use_ledger(self, ledger: InMemoryLedger) -> None:
        """The flush's ledger replaced by ``ledger`` (a fake failing where a test says), as the world's stands: every
        hour before T0 sealed."""
        ledger.next_hour = self.ledger.next_hour
        self.ledger = ledger
        self.deps = replace(self.deps, ledger=ledger)

    def rehearse_a_leaver_over_the_maximum(self) -> tuple[FlushDeps, DyingDryRun, Customer]:
        """The rehearsal (dry run, through a ``DyingDryRun``) from 08:00: 08:00 and 09:00 sealed in dry run, the buyer's
        ``OVER_MAXIMUM`` units used at 10:10. The live dependencies (for go-live), the gateway, and the buyer leaving
        with the cutoff 10:30."""
        live = self.deps
        gateway = DyingDryRun(self.clock)
        self.deps = replace(self.dry_run_deps(), gateway=gateway)
        self.subscribe()  # 08:00
        self.at(hour(10, 10))
        assert self.record(self.usage_event("big-1", 2_000_000_000), self.usage_event("big-2", 2_000_000_000)).accepted
        leaving = replace(self.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
        return live, gateway, leaving

    def dry_run_deps(self) -> FlushDeps:
        """The flush's dependencies as a stack deployed with ``metering_mode`` dry-run builds them."""
        return replace(
            self.deps,
            settings=replace(self.settings, metering_mode="dry-run"),
            gateway=DryRunMeteringGateway(self.clock),
        )

    def register_with(self, agreement_id: str) -> None:
        """The buyer registers again, the token naming ``agreement_id`` (as the registration stores it)."""
        now = self.clock.now()
        registration = Customer(
            self.ref, ACCOUNT, SubscriptionState.PENDING, now, now, agreement_id=agreement_id, agreement_linked_at=now
        )
        self.customers.upsert_registration(registration, f"nonce-{now.isoformat()}")

    def send_stamped(self, example: str, at: datetime, **names: Any) -> None:
        """AWS's example, stamped ``at`` (its true time), heard now (delivered late)."""
        event = eventbridge_example(example, self.parties.with_(**names), at=at)
        self.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=self.clock.now()))

    def subscribe(self) -> None:
        self.customers.put(
            Customer(
                self.ref, ACCOUNT, SubscriptionState.PENDING, self.clock.now(), agreement_id=self.parties.agreement_id
            )
        )
        self.send("created_proposer_new.json")
        self.send("license_updated.json")

    def send(self, example: str, **names: Any) -> None:
        event = eventbridge_example(example, self.parties.with_(**names), at=self.clock.now())
        self.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=self.clock.now()))

    def usage_event(self, event_id: str, quantity: int, stamp: datetime | None = None, **more: Any) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "product_code": self.product.code,
            "license_arn": LICENCE_ARN,
            "customer_aws_account_id": ACCOUNT,
            "dimension": "calls",
            "quantity": quantity,
            "timestamp": (stamp or self.clock.now()).isoformat(),
            **more,
        }

    def record(self, *events: dict[str, Any]) -> IngestResult:
        return record_usage(
            list(events), settings=self.settings, customers=self.customers, store=self.usage, clock=self.clock
        )

    def units_taken(self, event_id: str, quantity: int, stamp: datetime | None = None) -> int:
        """Usage recorded now: the units answered 200 (0 if refused)."""
        try:
            return quantity * len(self.record(self.usage_event(event_id, quantity, stamp)).accepted)
        except UsageRejected:
            return 0

    def reconcile(
        self, now: datetime, out_of_time: Callable[[], bool], report: Callable[[HourReconciled], None]
    ) -> Reconciled:
        """The flush's reconciliation (run.py), CloudTrail being the world's Marketplace's log (``logged_world``)."""
        assert isinstance(self.marketplace, LoggedMarketplace)
        audit = AuditDeps(self.ledger.entries_of_hour, self.marketplace, mark=self.ledger)
        return reconcile_due(audit, now, out_of_time, report)

    def customer(self) -> Customer:
        customer = self.customers.get(self.ref)
        assert customer is not None
        return customer

    def billed_hours(self) -> dict[datetime, int]:
        return {hour: int(record.quantity) for (_, _, hour), (record, _) in sorted(self.marketplace.billed.items())}


def hour(h: int, minutes: float = 0) -> datetime:
    return datetime(2026, 11, 26, h, tzinfo=UTC) + timedelta(minutes=minutes)


# a legacy product's buyer (customer identifiers, SNS), who may subscribe again under the same identifier
LEGACY = replace(PRODUCT, customer_mode="legacy", legacy_sns=True)
IDENTIFIER = "cust-0001"
# a buyer's hour over one record's maximum: the record takes the maximum, the rest carries on
OVER_MAXIMUM = 4_000_000_000
CARRIED = OVER_MAXIMUM - MAX_INTEGER_QUANTITY  # 1,852,516,353


class AnswersKilledLedger(InMemoryLedger):
    """Writes a call's outcomes one hour's item at a time, in the call's order, as the DynamoDB ledger does; while
    ``dying``, its writer is killed (``Killed``) after the first item."""

    dying = False

    def write_results(self, results: Sequence[RecordResult]) -> None:
        if not self.dying:
            return super().write_results(results)
        first = results[0].record.hour
        super().write_results([r for r in results if r.record.hour == first])
        if any(r.record.hour != first for r in results):
            raise Killed
        return None


class DyingDryRun(DryRunMeteringGateway):
    """The dry-run gateway whose caller is killed (``Killed``) on a call while ``dying``: a dry-run flush or final-usage
    step dying between storing its records and answering them."""

    dying = False

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if self.dying:
            raise Killed
        return super().batch_meter_usage(records)


def legacy_sns(world: World, example: str, at: datetime | None = None) -> None:
    """AWS's example SNS message ``example`` for the legacy buyer, sent at ``at`` (default: now), delivered now."""
    sent = at or world.clock.now()
    message = sns_message(example, customer_identifier=IDENTIFIER, product_code=LEGACY.code)
    body = json.dumps(sns_envelope(message, sns_topic(example, LEGACY.code), at=sent))
    world.lifecycle.handle(parse_notification(body, message_id=f"m-{sent.isoformat()}" if at else "m", sent_at=sent))


def legacy_usage(world: World, event_id: str, quantity: int, stamp: datetime | None = None) -> dict[str, object]:
    """A usage event of the legacy buyer's, stamped ``stamp`` (default: now)."""
    return {
        "event_id": event_id,
        "product_code": LEGACY.code,
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": quantity,
        "timestamp": (stamp or world.clock.now()).isoformat(),
    }


def logged_world() -> tuple[World, LoggedMarketplace]:
    """A world whose Marketplace CloudTrail logs (``tests.fakes.LoggedMarketplace``)."""
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    assert isinstance(world.marketplace, LoggedMarketplace)
    return world, world.marketplace


def legacy_subscribed(world: World) -> CustomerRef:
    """The legacy buyer known from their registration (pending), their subscribe-success delivered now: their ref."""
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")
    return ref


def back_and_leaving_again(world: World) -> CustomerRef:
    """Attack 44's legacy buyer: subscribed at 08:00, leaving at 10:00, back at 10:10 within that leave's final hour,
    and leaving again at 10:25 (their cutoff 11:10); the world's clock left at 10:25."""
    ref = legacy_subscribed(world)
    for moment, example in (
        (hour(10), "subscription_unsubscribe-pending.txt"),
        (hour(10, 10), "subscription_subscribe-success.txt"),
        (hour(10, 25), "subscription_unsubscribe-pending.txt"),
    ):
        world.at(moment)
        legacy_sns(world, example)
    return ref


def assert_every_answered_unit_billed(world: World, answered: int) -> None:
    """Every unit answered 200 is billed; the failure says what Marketplace refused (a ``LeavingMarketplace``'s
    CustomerNotSubscribed, sent after it stopped taking the buyer's records)."""
    refused = sum(int(record.quantity) for record in getattr(world.marketplace, "refused", ()))
    billed = world.billed_hours()
    assert sum(billed.values()) == answered, (
        f"billed {billed} of {answered} units answered 200; {refused} answered CustomerNotSubscribed"
    )
