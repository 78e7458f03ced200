"""A plan, run: our real code (usage ingest, registration, the lifecycle and a leaving buyer's timer, the flush with its
sealing, sending and reconciliation) on the simulator's ports, driven by actors, with the infrastructure's faults.

- **Producers** send batches as the seller's services would (``POST /usage``'s body, through the same ``parse_batch``
  and ingest), wait at most API Gateway's 29 s for an answer, and resend after a lost answer, a 503 or a 5xx:
  identically, or re-stamping their events' timestamps, as the plan says.
- **Marketplace** subscribes and unsubscribes buyers and notifies in AWS's published shapes
  (``tests/fixtures/aws``), delivered late, twice, and out of order by the lifecycle queue, with SQS's redelivery.
- **The flush** runs on its hourly schedule (and on demand), is killed or times out, retries as Lambda retries an
  asynchronous invocation, and continues itself.
Everything observed is kept for the invariants (``sim/invariants.py``).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from functions.customers.model import Customer, CustomerRef
from functions.flush.aggregate import aggregate
from functions.flush.audit import (
    AuditDeps,
    Finding,
    TrailResult,
    audit_hour,
    known_sealed_live,
    live_in_hour,
    unsealed,
)
from functions.flush.customer import CustomerUsageIncomplete, final_usage_sender
from functions.flush.dry_run import DryRunMeteringGateway
from functions.flush.records import MeteringError, MeteringRecord, RetentionFloor
from functions.flush.run import RunResult, flush_run
from functions.flush.sender import Backoff, SharedTokenBucket
from functions.flush.service import FlushDeps
from functions.lifecycle.agreement_entitlements import AgreementEntitlement
from functions.lifecycle.final_usage import SqsFinalUsage, final_usage_message, requested_final_usage
from functions.lifecycle.service import Lifecycle
from functions.lifecycle.worker import LifecycleWorker
from functions.observability import logger, metrics
from functions.registration.resolution import InvalidToken, ResolvedCustomer
from functions.registration.service import Registrations
from functions.seller_events import RecordingPublisher
from functions.storage.errors import StorageError
from functions.usage.ingest import UsageRejected
from functions.usage.model import hour_of
from functions.usage.recorder import UsageRecorder
from operations.agreement_billing import AgreementBillingUnavailable
from operations.estimates import price_of
from sim.agreements import Adjustment, SimAgreements
from sim.faults import Faults
from sim.marketplace import SimMarketplace
from sim.operator import Operator
from sim.plan import MINUTE, SELLER_ACCOUNT, Action, Buyer, Event, Plan
from sim.ports import Instrumented, SimLedger, SimUsage
from sim.quota import SimQuotaSlots
from sim.refusals import refused_billable
from sim.scheduler import Actor, Killed, Scheduler, SimExecutor
from tests.aws_corpus import Parties, eventbridge_example, sns_envelope, sns_message, sns_topic
from tests.fakes import FakeAgreementTerms, InMemoryCustomers, InMemoryLifecycleStore

API_TIMEOUT = 29.0  # API Gateway gives up on the usage API's answer after this
LIFECYCLE_TIMEOUT = 120.0  # the lifecycle function's timeout (stacks/constructs/lifecycle.py)
FOLLOW_UP = -1  # the action id of the operator's cli adjust answering a refund AWS failed (never shrunk: not planned)
LIFECYCLE_RESERVE = 20.0  # its handler stops taking on work this long before it
VISIBILITY_TIMEOUT = 6 * LIFECYCLE_TIMEOUT  # the lifecycle queue's, as the stack sets it
MAX_RECEIVES = 5  # then the dead-letter queue; an operator redrives it within the hour (its alarm)
FLUSH_RESERVE = 60.0  # the flush handler's reserve (functions/handlers/flush.py)
# Lambda retries a failed asynchronous invocation (the schedule's, a continuation) twice, a minute or two apart
ASYNC_RETRY_DELAYS = (60.0, 120.0)
PRODUCER_BACKOFF, PRODUCER_MAX_BACKOFF = 0.2, 10.0  # usage_client's defaults


@dataclass(frozen=True)
class Answer:
    """What a producer was told about one event of a request it sent."""

    content: tuple[str, str, str | None]  # dimension, quantity, timestamp sent (None: the server's clock)
    status: str  # accepted | duplicate | refused | retry (503) | error (500) | lost (no answer)
    at: datetime


@dataclass
class Observed:
    answers: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)  # (licence, event id) -> answers
    runs: list[tuple[datetime, RunResult]] = field(default_factory=list)
    metrics: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    dead_letters: int = 0
    # a leaving buyer's timer, or the message saying they leave, that failed (a fault: throttled, killed)
    timer_failures: Counter[str] = field(default_factory=Counter)
    # each hour the flush's reconciliation moved past: when, and what it finds there
    reconciled: list[tuple[datetime, datetime, list[Finding]]] = field(default_factory=list)


class NoEntitlements:
    def current(self, customer: Customer) -> tuple[dict[str, object], ...]:
        return ()


class NoAgreementEntitlements:
    """GetAgreementEntitlements knowing no licence yet (PENDING: the worlds link agreements to licences through
    registration and License events, as before the lookup existed)."""

    def of(self, agreement_id: str) -> list[AgreementEntitlement]:
        return []


class Resolver:
    """ResolveCustomer for the world's tokens: one per buyer, naming their licence and agreement once they have
    subscribed (a plan shrunk without the subscription has no token to resolve)."""

    def __init__(self, plan: Plan, marketplace: SimMarketplace) -> None:
        self._buyers = {f"token-{b.n}": b for b in plan.buyers}
        self._product = plan.product.code
        self._marketplace = marketplace

    def resolve(self, token: str) -> ResolvedCustomer:
        buyer = self._buyers[token]
        if buyer.customer not in self._marketplace.licences:
            raise InvalidToken("no such subscription")
        if buyer.identifier:  # an existing product: ResolveCustomer names both (helper's issue 24, item 1)
            return ResolvedCustomer(self._product, buyer.account, buyer.license_arn, buyer.identifier, None)
        return ResolvedCustomer(self._product, buyer.account, buyer.license_arn, None, buyer.agreement_id)


class World:
    def __init__(self, plan: Plan, *, trace: bool = False) -> None:
        self.plan = plan
        self.scheduler = Scheduler(plan.seed, plan.start)
        self.rng = self.scheduler.random  # the current actor's own
        self.faults = Faults(self.scheduler, plan.faults, plan.incident)
        self.scheduler.fault = self.faults
        self.scheduler.after_step = self._after_step
        self.trace: list[str] | None = [] if trace else None
        if self.trace is not None:
            self.scheduler.log = self.log
        self.violations: list[tuple[str, str, datetime]] = []
        self.observed = Observed()
        self.buyers = {b.n: b for b in plan.buyers}
        self.marketplace = SimMarketplace(self.scheduler, self.violation)
        self.marketplace.unprocessed_rate = plan.faults.unprocessed
        self.usage = SimUsage(self.scheduler)
        self.ledger = SimLedger(self.scheduler, self.violation)
        # a stack already running: its flush has sealed every hour before the world's (a stack's very first run looks
        # back 24 hours only: docs/metering.md)
        self.ledger.cursor = hour_of(plan.start)
        self.customers_store = InMemoryCustomers(InMemoryLifecycleStore())
        customers = Instrumented(self.customers_store, self.scheduler, "customers")
        clock = self.scheduler.clock
        self.settings = plan.settings
        # and has sealed them with the retention it keeps
        self.ledger.floor = RetentionFloor(self.ledger.cursor - timedelta(days=2), self.settings.audit_retention_days)
        self.flush_deps = FlushDeps(
            settings=self.settings,
            usage=self.usage,
            ledger=self.ledger,
            customers=customers,
            gateway=self.marketplace,
            clock=clock,
            backoff=Backoff(sleep=self.scheduler.sleep, rng=self.rng),
            limiter=SharedTokenBucket(
                float(self.settings.metering_calls_per_second),
                SimQuotaSlots(self.scheduler),
                clock=lambda: self.scheduler.now.timestamp(),
                sleep=self.scheduler.sleep,
            ),
            executor=lambda max_workers: SimExecutor(self.scheduler, max_workers),
        )
        self._dry_run: dict[Actor | None, bool] = {}  # each invocation's mode, as it first asked
        # the same stack deployed with metering_mode dry-run (functions/wiring/flush.py's gateway)
        self.dry_run_deps = replace(
            self.flush_deps,
            settings=replace(self.settings, metering_mode="dry-run"),
            gateway=DryRunMeteringGateway(clock),
        )
        self.audit = AuditDeps(
            entries_of_hour=self.ledger.entries_of_hour,
            trail=self.marketplace,
            mark=self.ledger,
            accepted=lambda hour: self._accepted(hour, self.usage),
        )
        self.recorder = UsageRecorder(self.settings, customers, self.usage, clock)
        self.lifecycle = Lifecycle(
            settings=self.settings,
            events=Instrumented(self.customers_store.lifecycle_store, self.scheduler, "lifecycle_store"),
            customers=customers,
            entitlements=NoEntitlements(),
            publisher=RecordingPublisher(),
            final_usage=Timers(self),
            clock=clock,
            agreement_entitlements=NoAgreementEntitlements(),
        )
        self.worker = LifecycleWorker(self.lifecycle, IdempotencyConfig(), run_once=lambda request: request)
        self.worker.run_once = self.worker.handle
        self.registrations = Registrations(
            resolver=Resolver(plan, self.marketplace),
            agreement_terms=FakeAgreementTerms(False),
            customers=customers,
            publisher=RecordingPublisher(),
            clock=clock,
            signing_secret=lambda: "simulated",
            products=(plan.product,),
            completion_ttl_seconds=3600,
        )
        self._messages = 0
        self._leaving: dict[str, str] = {}  # message id -> the customer key of a buyer it says is leaving
        # customer key -> the notifications about them not yet handled (any copy), each with when AWS published it
        self._unheard: dict[str, dict[str, datetime]] = {}
        # when the product last heard a notification about each buyer (customer key)
        self._last_heard: dict[str, datetime] = {}
        self._events = 0
        self._metrics: dict[Actor, Counter[str]] = {}
        self.ledger.on_reconciled = self._reconciled
        self.agreement: dict[int, str] = {b.n: b.agreement_id for b in plan.buyers}
        self.accepted_renewal: dict[int, str] = {}  # a future-dated renewal accepted, not started yet
        # cli adjust's world: the Agreement Service, and the operator's command with its refund claims
        self.agreements = SimAgreements(self.scheduler, self.marketplace, self._list_price)
        # some refund worlds' refunds are failed by AWS after it took them (a stream of its own: the rest as before)
        self._failing = random.Random(f"{plan.seed}/refund-failures")
        self._failure_rate = self._failing.choice((0.0, 0.0, 0.3, 1.0)) if plan.refunds else 0.0
        # of the refunds AWS fails, three in ten have their Failed event lost (a stream of its own: worlds as before)
        self._losing_events = random.Random(f"{plan.seed}/lost-failed-events")
        self.agreements.on_taken = self._maybe_fail
        self._follow_up_until: datetime | None = None  # the world runs on until the operator's answers are done
        self.agreements.answered_before = self._answered
        self.operator = Operator(
            self.scheduler, self.settings, customers, self.usage, self.ledger, self.marketplace, self.agreements
        )
        self.adjusted_at: datetime | None = None  # when the final adjust over the world's span finished

    # observing
    def log(self, text: str) -> None:
        if self.trace is not None:
            self.trace.append(f"{self.scheduler.now:%m-%d %H:%M:%S.%f}"[:-3] + f"  {text}")

    def violation(self, invariant: str, detail: str) -> None:
        self.violations.append((invariant, detail, self.scheduler.now))
        self.log(f"VIOLATION {invariant}: {detail}")

    # metrics, as Lambda publishes them: buffered per invocation and printed when it returns (or when our code flushes
    # them), lost with an invocation that is killed
    def _after_step(self) -> None:
        if self.scheduler.last is not None:
            self._harvest(self.scheduler.last.invocation)

    def _harvest(self, invocation: Actor) -> None:
        pending = self._metrics.setdefault(invocation, Counter())
        for name, metric in metrics.metric_set.items():
            pending[name] += int(sum(metric["Value"]))
        metrics.clear_metrics()

    def _publish(self, invocation: Actor) -> None:
        self._harvest(invocation)
        self.observed.metrics.update(self._metrics.pop(invocation, Counter()))

    def _flush_metrics(self, *args: Any, **kwargs: Any) -> None:
        actor = self.scheduler.current()
        if actor is not None and not actor.dead:
            self._publish(actor.invocation)

    # running
    def run(self) -> None:
        for action in self.plan.actions:
            self.scheduler.spawn(f"plan#{action.id}", "world", self._performer(action), at=action.at)
        metrics.flush_metrics = self._flush_metrics  # type: ignore[method-assign]  # what an invocation prints now
        try:
            self.scheduler.run(self.plan.quiet_from)
            self.faults.calm = True
            self.log("-- faults stop: the world heals --")
            self.scheduler.run(self.plan.end)
            while self._follow_up_until is not None and self.scheduler.now < self._follow_up_until:
                self.scheduler.run(self._follow_up_until)  # the operator's answer to a refund AWS failed late
            for actor in self.scheduler.unwind_the_dead():
                self.violation("every invocation finishes", f"{actor.name} never finished")
        finally:
            del metrics.flush_metrics

    def _performer(self, action: Action) -> Callable[[], None]:
        def perform() -> None:
            buyer = self.buyers.get(action.buyer or 0)
            subscribed = buyer is not None and buyer.customer in self.marketplace.licences
            if action.kind in ("renew", "renewal-start", "amend", "leave") and not subscribed:
                return  # Marketplace has no such subscription to change (a plan shrunk without it)
            if action.kind == "renewal-start" and (action.buyer or 0) not in self.accepted_renewal:
                return  # no renewal was accepted (a plan shrunk without it)
            self.log(f"plan {action.describe()}")
            {
                "subscribe": self._subscribe,
                "register": self._register,
                "renew": self._renew,
                "renewal-start": self._renewal_start,
                "amend": self._amend,
                "leave": self._leave,
                "batch": self._batch,
                "resend": self._batch,
                "flush": self._flush,
                "overbill": self._overbill,
                "adjust": self._adjust,
                "settle": self._settle,
            }[action.kind](action)

        return perform

    # Marketplace's side of a buyer's life
    def _subscribe(self, action: Action) -> None:
        buyer = self.buyers[action.buyer or 0]
        self.marketplace.subscribe(buyer.customer, buyer.account)
        if buyer.identifier:  # no agreement named: the legacy messages carry none
            self._sns("subscription_subscribe-success.txt", buyer)
            return
        self.marketplace.agree(buyer.customer, buyer.agreement_id)
        self._notify("created_proposer_new.json", buyer, agreement=buyer.agreement_id)
        self._notify("license_updated.json", buyer, agreement=buyer.agreement_id)

    def _renew(self, action: Action) -> None:
        buyer = self.buyers[action.buyer or 0]
        old, new = self.agreement[buyer.n], buyer.renewal_agreement_id or ""
        self._notify("created_proposer_renew.json", buyer, agreement=old, renewal=new, starts=buyer.renewal_starts)
        if buyer.renewal_starts is not None:  # future-dated: the old agreement holds the licence until it starts
            self.accepted_renewal[buyer.n] = new
            return
        self._hand_over(buyer, old, new)

    def _renewal_start(self, action: Action) -> None:
        buyer = self.buyers[action.buyer or 0]
        self._hand_over(buyer, self.agreement[buyer.n], self.accepted_renewal.pop(buyer.n))

    def _hand_over(self, buyer: Buyer, old: str, new: str) -> None:
        """The renewal holds the licence from now on: the agreement it replaced ends."""
        self.agreement[buyer.n] = new
        self.marketplace.agree(buyer.customer, new)
        self._notify("ended_proposer.json", buyer, agreement=old)
        self._notify("license_updated.json", buyer, agreement=new)

    def _amend(self, action: Action) -> None:
        buyer = self.buyers[action.buyer or 0]
        if buyer.identifier:
            self._sns("entitlement_entitlement-updated.txt", buyer)
            return
        self._notify("amended_proposer.json", buyer, agreement=self.agreement[buyer.n])

    def _leave(self, action: Action) -> None:
        buyer = self.buyers[action.buyer or 0]
        self.marketplace.unsubscribe(buyer.customer)
        if buyer.identifier:  # unsubscribe-pending: about an hour left; unsubscribe-success once it is over
            self._sns("subscription_unsubscribe-pending.txt", buyer, opens_final_hour=True)
            self._sns("subscription_unsubscribe-success.txt", buyer, later=self.plan.closes_after(buyer.n))
            return
        agreement = self.agreement[buyer.n]
        if buyer.ended_first:  # the seller guide: Ended opens the final hour, Deprovisioned closes it
            self._notify("ended_proposer.json", buyer, agreement=agreement, opens_final_hour=True)
            self._notify(
                "license_deprovisioned.json", buyer, agreement=agreement, later=self.plan.closes_after(buyer.n)
            )
        else:  # AWS's 2026 guidance: Deprovisioned opens it, Ended marks the agreement inactive
            self._notify("license_deprovisioned.json", buyer, agreement=agreement, opens_final_hour=True)
            self._notify("ended_proposer.json", buyer, agreement=agreement, later=self.rng.uniform(0, 300))

    def _notify(
        self,
        example: str,
        buyer: Buyer,
        *,
        agreement: str,
        renewal: str | None = None,
        later: float = 0.0,
        starts: datetime | None = None,
        opens_final_hour: bool = False,
    ) -> None:
        """``starts``: a future-dated agreement's ``startTime`` (else the event's time, as AWS's examples give it);
        ``opens_final_hour``: the message that tells us the buyer is leaving."""
        at = self.scheduler.now + timedelta(seconds=later)
        parties = Parties(
            seller_account=SELLER_ACCOUNT,
            buyer_account=buyer.account,
            agreement_id=agreement,
            renewal_agreement_id=renewal or agreement,
            licence_id=buyer.licence_id,
            product_code=self.plan.product.code,
            product_id=self.plan.product.id,
        )
        event = eventbridge_example(example, parties, at=at)
        self._events += 1
        event["id"] = f"sim-event-{self._events}"
        details = event["detail"].get("agreement", {})
        for moment in ("acceptanceTime", "startTime"):
            if moment in details:
                details[moment] = event["time"]
        if starts is not None and "startTime" in details:
            details["startTime"] = starts.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps(event)
        self._send_notification(body, later, example, buyer, opens_final_hour)

    def _send_notification(self, body: str, later: float, example: str, buyer: Buyer, opens_final_hour: bool) -> None:
        leaving = self._customer_key(buyer) if opens_final_hour else None
        delay = later + self.rng.uniform(0, self.plan.notification_delay_seconds)
        published = self.scheduler.now + timedelta(seconds=later)
        self._unheard.setdefault(self._customer_key(buyer), {})[body] = published
        self.send_message(body, delay, f"{example} for {buyer.name}", leaving=leaving)
        if self.rng.random() < self.plan.duplicate_rate:
            again = delay + self.rng.uniform(0, 3 * self.plan.notification_delay_seconds + 60)
            self.send_message(body, again, "again", leaving=leaving)

    def _customer_key(self, buyer: Buyer) -> str:
        return self._customer_ref(buyer).key

    def _customer_ref(self, buyer: Buyer) -> CustomerRef:
        code = self.plan.product.code
        if buyer.identifier:
            return CustomerRef(code, customer_identifier=buyer.identifier)
        return CustomerRef(code, license_arn=buyer.license_arn)

    def _sns(self, example: str, buyer: Buyer, *, later: float = 0.0, opens_final_hour: bool = False) -> None:
        """A legacy message, as SNS delivers it to the subscribed queue (raw delivery off: the envelope)."""
        assert buyer.identifier is not None
        at = self.scheduler.now + timedelta(seconds=later)
        message = sns_message(example, customer_identifier=buyer.identifier, product_code=self.plan.product.code)
        envelope = sns_envelope(message, sns_topic(example, self.plan.product.code), at=at)
        self._events += 1
        envelope["MessageId"] = f"sim-sns-{self._events}"
        self._send_notification(json.dumps(envelope), later, example, buyer, opens_final_hour)

    # the lifecycle queue
    def send_message(self, body: str, delay: float, what: str, *, leaving: str | None = None) -> None:
        """``leaving``: the customer key of a buyer this message tells us is leaving."""
        self._messages += 1
        message_id = f"m{self._messages}"
        sent_at = self.scheduler.now
        self.log(f"queue {message_id} {what}, in {delay:.0f}s")
        if leaving is not None:
            self._leaving[message_id] = leaving
        self._deliver(message_id, body, sent_at, self.scheduler.now + timedelta(seconds=delay), 1)

    def _deliver(self, message_id: str, body: str, sent_at: datetime, at: datetime, receive: int) -> None:
        def handle() -> None:
            deadline = self.scheduler.now + timedelta(seconds=LIFECYCLE_TIMEOUT)
            self._watchdog(invocation, deadline)
            status = self.worker.process(
                body,
                message_id=message_id,
                sent_at=sent_at,
                out_of_time=lambda: (deadline - self.scheduler.now).total_seconds() < LIFECYCLE_RESERVE,
            )
            self.log(f"[{invocation.name}] handled: {status}")
            for key, unheard in self._unheard.items():
                if unheard.pop(body, None) is not None:
                    self._last_heard[key] = self.scheduler.now

        def redeliver() -> None:
            # a failed timer, or a failed message telling us the buyer leaves: either delays their final usage
            if (ref := requested_final_usage(body)) is not None:
                self.observed.timer_failures[ref.key] += 1
            elif (leaving := self._leaving.get(message_id)) is not None:
                self.observed.timer_failures[leaving] += 1
            if receive >= MAX_RECEIVES:
                self.observed.dead_letters += 1
                self.log(f"queue {message_id} dead-lettered; redriven in an hour")
                self._deliver(message_id, body, sent_at, self.scheduler.now + timedelta(hours=1), 1)
            else:
                self._deliver(
                    message_id, body, sent_at, self.scheduler.now + timedelta(seconds=VISIBILITY_TIMEOUT), receive + 1
                )

        # a final usage left incomplete (throttled, out of time) fails its message, as in Lambda: SQS delivers it again
        incomplete = (StorageError, MeteringError, CustomerUsageIncomplete)
        name = f"lifecycle:{message_id}.{receive}"
        invocation = self._invocation(name, "lifecycle", handle, at, on_failure=redeliver, expected=incomplete)

    # invocations
    def _invocation(
        self,
        name: str,
        kind: str,
        body: Callable[[], Any],
        at: datetime,
        *,
        on_failure: Callable[[], None] | None = None,
        on_end: Callable[[], None] | None = None,
        expected: tuple[type[BaseException], ...] = (StorageError, MeteringError),
    ) -> Actor:
        """A Lambda invocation: ``on_failure`` when it raises or is killed, ``on_end`` however it ends."""

        def run() -> None:
            failed = True
            try:
                body()
                failed = False
            except Killed:
                self.log(f"[{name}] killed")
                self._metrics.pop(actor, None)  # its buffered metrics die with it
                raise
            except expected as error:
                self.log(f"[{name}] failed: {type(error).__name__}: {error}")
            except Exception as error:
                self._crash(name, error)
            finally:
                if not actor.dead:
                    self._publish(actor)
                if failed and on_failure is not None:
                    on_failure()
                if on_end is not None:
                    on_end()

        actor = self.scheduler.spawn(name, kind, run, at=at)
        return actor

    def _accepted(self, hour: datetime, usage: Any) -> list[MeteringRecord]:
        events = itertools.chain(usage.events_of_hour(hour), usage.late_events_billed_in(hour))
        return aggregate(hour, events, self.settings.products)

    def _reconciled(self, hour: datetime) -> None:
        """The flush moved the reconciliation past ``hour``: what it finds there now, read as it stands."""
        peek = AuditDeps(
            entries_of_hour=self.ledger.peek,
            trail=PeekTrail(self.marketplace),
            accepted=lambda at: self._accepted(at, self.usage.inner),
        )
        entries = self.ledger.peek(hour)
        trail = [r for r in peek.trail.metering_results(hour) if r.hour == hour]
        # as the reconciliation reads an hour sealed in dry run: only what Marketplace answered of it is ours
        modes_since = self.ledger.modes_since
        ours = live_in_hour(lambda h: h in self.ledger.dry_run_hours, hour, entries, modes_since)
        if ours is not None:
            entries = [e for e in entries if (e.record.customer, e.record.dimension) in ours]
            trail = [r for r in trail if (r.customer, r.dimension) in ours]
        live = ours is None and known_sealed_live(hour, modes_since)
        findings = audit_hour(peek, hour, entries, trail, sealed_live=live)
        findings += unsealed(peek, hour, entries, PeekLedger(self.ledger))
        if ours is not None:
            findings = [f for f in findings if (f.customer, f.dimension) in ours]
        self.observed.reconciled.append((hour, self.scheduler.now, findings))

    def _crash(self, name: str, error: BaseException) -> None:
        import traceback

        text = "".join(traceback.format_exception(error)).strip().splitlines()
        self.observed.crashes.append(f"{name}: {text[-1]}")
        self.violation("no invocation crashes", f"{name}: " + " | ".join(text[-6:]))

    def _watchdog(self, invocation: Actor, deadline: datetime) -> None:
        """Lambda ends an invocation at its timeout, wherever it is."""

        def watch() -> None:
            if not invocation.done and not invocation.dead:
                self.log(f"[{invocation.name}] timed out")
                invocation.dead = True
                for child in invocation.children:
                    child.dead = True

        self.scheduler.spawn(f"timeout:{invocation.name}", "world", watch, at=deadline)

    # the flush
    def deps_now(self) -> FlushDeps:
        """The flush's collaborators as deployed: in dry run while the plan rehearses or is stopped, else live. An
        invocation keeps the configuration it first used, as a Lambda invocation keeps its own across a deployment."""
        actor = self.scheduler.current()
        invocation = actor.invocation if actor else None
        if invocation not in self._dry_run:
            self._dry_run[invocation] = self.plan.dry_run_at(self.scheduler.now)
        return self.dry_run_deps if self._dry_run[invocation] else self.flush_deps

    def in_dry_run(self, invocation: Actor | None) -> bool:
        """The invocation ran in dry run (metering_mode dry-run: a rehearsal, an emergency stop)."""
        return self._dry_run.get(invocation, False)

    def _flush(self, action: Action, run: int = 0, attempt: int = 0) -> None:
        name = f"flush#{action.id}" + (f".c{run}" if run else "") + (f".r{attempt}" if attempt else "")
        continued: list[bool] = []

        def body() -> None:
            deadline = self.scheduler.now + timedelta(seconds=self.plan.flush_timeout_seconds)
            self._watchdog(invocation, deadline)
            result = flush_run(
                self.deps_now(),
                lambda: self.audit,
                run=run,
                remaining_ms=lambda: int((deadline - self.scheduler.now).total_seconds() * 1000),
                continue_later=lambda: self._continue(continued),
            )
            self.observed.runs.append((self.scheduler.now, result))
            self.log(f"[{name}] {_run_text(result)}" + _audit_text(result))

        def failed() -> None:
            if attempt < len(ASYNC_RETRY_DELAYS):
                retry_at = self.scheduler.now + timedelta(seconds=ASYNC_RETRY_DELAYS[attempt])
                self.scheduler.spawn(
                    f"retry:{name}", "world", lambda: self._flush(action, run, attempt + 1), at=retry_at
                )

        def ended() -> None:
            if continued:  # invoked asynchronously: it starts once this one has freed the concurrency of 1
                at = self.scheduler.now + timedelta(seconds=self.rng.uniform(1, 30))
                self.scheduler.spawn(f"continue:{name}", "world", lambda: self._flush(action, run + 1), at=at)

        invocation = self._invocation(name, "flush", body, self.scheduler.now, on_failure=failed, on_end=ended)

    def _continue(self, continued: list[bool]) -> None:
        self.scheduler.port("lambda.Invoke", "before")
        continued.append(True)

    # refunds: an outsider over-bills, the operator runs cli adjust
    def _list_price(self, dimension: str) -> Decimal | None:
        priced = price_of(self.settings, self.plan.product.code, dimension)
        return priced[0] if priced is not None else None

    def _overbill(self, action: Action) -> None:
        buyer = self.buyers[action.buyer or 0]
        event = action.events[0]
        hour = hour_of(action.made or self.scheduler.now) - timedelta(hours=event.offset)
        dimension = self.plan.product.dimension(event.dimension)
        record = MeteringRecord(
            f"outsider#{buyer.customer}#{event.dimension}",
            hour,
            self.plan.product.code,
            buyer.customer,
            buyer.account,
            event.dimension,
            Decimal(event.quantity),
            integer=dimension is None or dimension.quantity_type != "decimal",
            license_arn=None if buyer.identifier else buyer.license_arn,
            customer_identifier=buyer.identifier,
        )
        status = self.marketplace.meter_outside(record)
        self.log(f"[outsider] BatchMeterUsage {buyer.name} {event.dimension}={event.quantity} @{hour:%d %H}h: {status}")

    def _answered(self, token: str) -> bool:
        """Whether AWS's answer to the refund was kept when the run sending it decided to: its claim, which succeeds
        only while none is kept, or, for a run that did not claim it, now."""
        kept = self.operator.claims.asked.get(token)
        actor = self.scheduler.current()
        if actor is not None and self.operator.claims.claimed_by.get(token) is actor.invocation:
            return False
        return kept is not None and kept.request_id is not None

    def _maybe_fail(self, adjustment: Adjustment) -> None:
        """AWS fails a refund it took, a minute to an hour on, and says so (Purchase Agreement Billing Adjustment
        Failed): the next ``cli adjust`` over its hours asks for them again. The operator, alarmed
        (BillingAdjustmentFailed), runs one over the world's whole span once the event is in; its refunds never
        fail (the world ends)."""
        actor = self.scheduler.current()
        answering = actor is not None and (actor.root or actor).name == f"adjust#{FOLLOW_UP}"
        if answering or self._failing.random() >= self._failure_rate:
            return

        def fail() -> None:
            self.agreements.fail(adjustment)
            if self._losing_events.random() < 0.3:
                lost()
                return
            self.log(f"[agreements] {adjustment.request_id} failed after it was taken")
            entry = adjustment.entry
            event = eventbridge_example("billing_adjustment_failed_proposer.json", at=self.scheduler.now)
            self._events += 1
            event["id"] = f"sim-event-{self._events}"
            event["detail"]["agreement"]["id"] = entry.agreement_id
            event["detail"]["billingAdjustmentRequest"].update(
                id=adjustment.request_id,
                adjustmentAmount=f"-{entry.amount}",
                currencyCode=entry.currency,
                adjustmentReasonCode=entry.reason_code,
            )
            event["detail"]["invoice"]["originalInvoiceId"] = entry.invoice_id
            delay = self.rng.uniform(0, self.plan.notification_delay_seconds)
            self.send_message(json.dumps(event), delay, f"billing adjustment {adjustment.request_id} failed")
            span = (self.plan.start - timedelta(hours=1), self.plan.end)
            answer = Action(FOLLOW_UP, self.scheduler.now, "adjust", window=span, style="final")
            at = self.scheduler.now + timedelta(seconds=self.plan.notification_delay_seconds + 300)
            self._follow_up_until = max(self._follow_up_until or at, at + timedelta(minutes=30))
            self.scheduler.spawn(f"answer#{adjustment.request_id}", "world", self._performer(answer), at=at)

        def lost() -> None:
            """No Failed event, no alarm: the operator's daily ``cli adjust --settle --send`` (once the world has
            healed) finds it, and an adjust over the world's span refunds its hours again."""
            self.log(f"[agreements] {adjustment.request_id} failed after it was taken; its Failed event is lost")
            now = self.scheduler.now
            at = max(now + timedelta(minutes=self._losing_events.uniform(5, 30)), self.plan.quiet_from + 5 * MINUTE)
            settle = Action(FOLLOW_UP, at, "settle", style="plain")
            self.scheduler.spawn(f"settle#{adjustment.request_id}", "world", self._performer(settle), at=at)
            span = (self.plan.start - timedelta(hours=1), self.plan.end)
            answer = Action(FOLLOW_UP, at + 10 * MINUTE, "adjust", window=span, style="final")
            self.scheduler.spawn(f"answer#{adjustment.request_id}", "world", self._performer(answer), at=answer.at)
            self._follow_up_until = max(self._follow_up_until or answer.at, answer.at + timedelta(minutes=30))

        at = self.scheduler.now + timedelta(minutes=self._failing.uniform(1, 60))
        self.agreements.failing.add(adjustment.entry.client_token)
        self.scheduler.spawn(f"fail#{adjustment.request_id}", "world", fail, at=at)

    def _adjust(self, action: Action) -> None:
        assert action.window is not None
        since, until = action.window
        name = f"adjust#{action.id}"

        def body() -> None:
            if action.style == "killed":  # interrupted midway (Ctrl-C, the laptop gone)
                self._watchdog(invocation, self.scheduler.now + timedelta(seconds=self.rng.uniform(0.01, 2.0)))
            elif action.style == "lost":
                self.agreements.lose.add(invocation)
            elif action.style == "unsent":
                self.agreements.unreachable.add(invocation)
            code, out = self.operator.adjust(since, until)
            refunds = json.loads(out)["refunds"]
            self.log(f"[{name}] exit {code}: " + "; ".join(_refund_text(r) for r in refunds))
            if action.style == "final":
                self.adjusted_at = self.scheduler.now

        invocation = self._invocation(
            name, "operator", body, self.scheduler.now, expected=(StorageError, AgreementBillingUnavailable)
        )

    def _settle(self, action: Action) -> None:
        name = f"settle#{action.id}"

        def body() -> None:
            if action.style == "killed":
                self._watchdog(invocation, self.scheduler.now + timedelta(seconds=self.rng.uniform(0.01, 2.0)))
            code, out = self.operator.settle()
            rows = json.loads(out)["refunds"]
            self.log(f"[{name}] exit {code}: " + "; ".join(f"{r['client_token'][-8:]}: {r['outcome']}" for r in rows))

        invocation = self._invocation(
            name, "operator", body, self.scheduler.now, expected=(StorageError, AgreementBillingUnavailable)
        )

    # registration
    def _register(self, action: Action, attempt: int = 0) -> None:
        buyer = self.buyers[action.buyer or 0]

        def body() -> None:
            try:
                self.registrations.register(f"token-{buyer.n}", free_trial_claimed=False)
            except InvalidToken:
                self.log(f"[register {buyer.name}] no subscription: nothing to register")
                return
            self.log(f"[register {buyer.name}] registered")

        def failed() -> None:  # the buyer's browser: they press the button again
            if attempt < 5:
                again = self.scheduler.now + timedelta(seconds=self.rng.uniform(5, 120))
                self.scheduler.spawn(
                    f"again:{buyer.name}", "world", lambda: self._register(action, attempt + 1), at=again
                )

        self._invocation(f"register:{buyer.name}.{attempt}", "api", body, self.scheduler.now, on_failure=failed)

    # producers
    def _batch(self, action: Action) -> None:
        buyer = self.buyers[action.buyer or 0]
        made = action.made if action.style in ("identical", "changed") and action.made else self.scheduler.now
        events = [self._body(buyer, e, made, changed=action.style == "changed") for e in action.events]
        for attempt in range(8):
            if attempt and action.style == "restamp":
                events = [self._body(buyer, e, self.scheduler.now) for e in action.events]
            asked = self.scheduler.now
            answers, retry_after, problems = self._post(events)
            self._judge_refusals(buyer, events, problems, asked)
            for event, status in zip(events, answers, strict=True):
                answer = Answer(
                    (event["dimension"], str(event["quantity"]), event.get("timestamp")), status, self.scheduler.now
                )
                self.observed.answers.setdefault((buyer.customer, event["event_id"]), []).append(answer)
            if answers[0] not in ("retry", "lost", "error"):
                return
            # as usage_client retries: exponential backoff with jitter, and a 503's Retry-After honoured
            delay = min(PRODUCER_MAX_BACKOFF, PRODUCER_BACKOFF * 2**attempt)
            self.scheduler.sleep(max(self.rng.uniform(delay / 2, delay), retry_after))

    def _body(self, buyer: Buyer, event: Event, made: datetime, *, changed: bool = False) -> dict[str, Any]:
        stamps = {
            "recent": made - timedelta(seconds=event.offset),
            "late": made - timedelta(seconds=event.offset),
            "before_licence": buyer.subscribes - timedelta(seconds=event.offset),
            "future": made + timedelta(seconds=event.offset),
        }
        quantity: int | str = event.quantity
        if changed:
            quantity = quantity + 1 if isinstance(quantity, int) else str(Decimal(quantity) + 1)
        body: dict[str, Any] = {
            "event_id": event.event_id,
            "product_code": self.plan.product.code,
            "dimension": event.dimension,
            "quantity": quantity,
        }
        if buyer.identifier:
            body["customer_identifier"] = buyer.identifier
        else:
            body |= {"license_arn": buyer.license_arn, "customer_aws_account_id": buyer.account}
        if event.stamp in stamps:
            body["timestamp"] = stamps[event.stamp].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if event.allocations:
            parts: list[dict[str, Any]] = [
                {"tags": {"team": team}, "quantity": part} for team, part in event.allocations
            ]
            if changed:  # the quantity changed by one: so does its first part
                first = parts[0]["quantity"]
                parts[0]["quantity"] = first + 1 if isinstance(first, int) else str(Decimal(first) + 1)
            body["allocations"] = parts
        return body

    def _judge_refusals(
        self, buyer: Buyer, events: list[dict[str, Any]], problems: list[tuple[int, str]], asked: datetime
    ) -> None:
        """Invariant 8 (sim/refusals.py), once the product has heard every notification published about the buyer, and
        heard none while the request was in flight (it read the buyer when the request came: seed 423903, a
        subscribe-success applied 15 s before the answer of a request that had read the buyer pending)."""
        now, key = self.scheduler.now, self._customer_key(buyer)
        if not problems or any(at <= now for at in self._unheard.get(key, {}).values()):
            return
        if (heard := self._last_heard.get(key)) is not None and heard > asked:
            return
        licence = self.marketplace.licences.get(buyer.customer)
        customer = self.customers_store.get(self._customer_ref(buyer))
        sent_early = customer.final_usage_sent if customer else None
        # an event stored before (a changed resend of usage already taken) loses nothing when refused again
        stored = {e.event_id for e in self.usage.inner.stored() if e.customer_key == key}
        for i, problem in problems:
            if events[i]["event_id"] in stored:
                continue
            sent = events[i].get("timestamp")
            stamp = datetime.fromisoformat(sent) if sent else now
            if (detail := refused_billable(self.plan, licence, stamp, now, problem, sent_early)) is not None:
                self.violation("no billable usage refused", f"{buyer.name} {events[i]['event_id']}: {detail}")

    def _post(self, events: list[dict[str, Any]]) -> tuple[list[str], float, list[tuple[int, str]]]:
        """POST /usage as the handler answers it: per event, accepted | duplicate; the whole batch refused (4xx),
        503 (retry), 500 (error); lost: no answer within API Gateway's timeout (or the invocation died). And what a
        refusal said of each event it named: (its index, the problem)."""
        answer: list[list[str]] = []
        retry_after: list[float] = []
        problems: list[tuple[int, str]] = []

        def request() -> None:
            try:
                result = self.recorder.ingest_body({"events": events})
            except UsageRejected as rejection:
                self.log(
                    f"[api] {rejection.kind}: {rejection}"
                    + (f"; stored before: {rejection.duplicates}" if rejection.duplicates else "")
                )
                problems.extend(
                    (int(e.field.split("]")[0].removeprefix("events[")), e.message)
                    for e in rejection.errors
                    if e.field.startswith("events[")
                )
                named = {i for i, _ in problems}
                conflicts = {events[i]["event_id"] for i in named} if rejection.kind == "conflict" else set()
                answer.append(
                    [
                        "duplicate"
                        if e["event_id"] in rejection.duplicates
                        else "conflict"
                        if e["event_id"] in conflicts  # the version stored before counts
                        else "refused"
                        for e in events
                    ]
                )
                return
            except StorageError as error:
                self.log(f"[api] {'503' if error.retryable else '500'}: {error}")
                answer.append([("retry" if error.retryable else "error")] * len(events))
                retry_after.append(error.retry_after or 0.0)
                return
            statuses = {r["event_id"]: r["status"] for r in result.to_dict()["results"]}
            answer.append([statuses[e["event_id"]] for e in events])
            self.log("[api] 200: " + ", ".join(f"{e['event_id']} {statuses[e['event_id']]}" for e in events))

        actor = self._invocation("api:usage", "api", request, self.scheduler.now)
        self.scheduler.join(actor, timeout=API_TIMEOUT)
        return (answer[0] if answer else ["lost"] * len(events)), (retry_after[0] if retry_after else 0.0), problems


class PeekTrail:
    """CloudTrail as it stands, read by the simulator's own checks (not a port call: no fault, no switch)."""

    def __init__(self, marketplace: SimMarketplace) -> None:
        self._marketplace = marketplace

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        return self._marketplace.shown(start, end)


class PeekLedger:
    """The carries of the ledger as they stand, for the simulator's own checks (not port calls)."""

    def __init__(self, ledger: SimLedger) -> None:
        self.carried_into = ledger.peek_carried_into
        self.placements_into = ledger.peek_placements_into


class Timers:
    """The lifecycle's ``FinalUsage`` port: the timer is a delayed message on the lifecycle queue (as SqsFinalUsage
    sends it: at most SQS's longest delay), the send the flush's own (``final_usage_sender``)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def send(self, customer: Customer, out_of_time: Callable[[], bool]) -> None:
        final_usage_sender(self._world.deps_now())(customer, out_of_time)

    def schedule(self, ref: CustomerRef, delay_seconds: float) -> None:
        world = self._world
        world.scheduler.port("sqs.SendMessage", "before")
        delay = min(SqsFinalUsage.MAX_DELAY_SECONDS, max(0, math.ceil(delay_seconds)))
        world.send_message(final_usage_message(ref), delay, f"timer of {ref.key}")
        world.scheduler.port("sqs.SendMessage", "after")


def _refund_text(row: dict[str, Any]) -> str:
    hours = ",".join(h["hour"][8:13] for h in row["over_billed"] if "hour" in h)
    return f"{row['agreement'] and row['agreement'][-6:]} {row['month']} [{hours}] {row['amount']}: {row['outcome']}"


def _run_text(result: RunResult) -> str:
    report = result.report
    if report.skipped:
        return "skipped: another run holds the lease"
    text = f"sealed {report.hours_sealed} hours, {report.records_sent} records sent, {report.succeeded} billed"
    if report.failed:
        text += f", parked {dict(report.failed)}"
    if report.left_pending:
        text += f", {report.left_pending} left unsent"
    return text + (", continues" if report.continued else "")


def _audit_text(result: RunResult) -> str:
    done = result.reconciled
    if done is None:
        return ""
    text = "".join(f"; reconciled {h.hour:%d %H}h: {len(h.findings)} mismatches" for h in done.hours)
    text += f"; {done.behind} hours behind" + (f" ({done.waiting})" if done.waiting and done.behind else "")
    findings: list[Finding] = [f for h in done.hours for f in h.findings]
    return text + "".join(f"\n      {f.kind}: {f.customer[-10:]} {f.dimension} {f.detail}" for f in findings)


@contextlib.contextmanager
def quiet() -> Any:
    """Our code logs and prints EMF as in Lambda: in a simulation, nobody reads it."""
    level = logger.log_level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
