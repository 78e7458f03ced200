"""In-memory fakes of our own ports (never of boto3), shared by the unit tests: each keeps what its DynamoDB or AWS
adapter would, with the same contract, so the rules above them run in microseconds.

The lifecycle state is derived by the same code the DynamoDB repository uses (``buyer_lifecycle`` over the subjects
kept here), so a fake customer is in the state a real one would be.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from functions.clock import Clock
from functions.customers.model import Customer, CustomerRef, SingleUseExpired, SingleUseSpent, TenantConflict
from functions.customers.notices import AgreementNotice, latest
from functions.customers.repository import with_lifecycle
from functions.customers.subjects import BuyerLifecycle, FreeTrialWord, SubjectRecord, buyer_lifecycle
from functions.customers.subscription import LifecycleKind, LifecycleTimes
from functions.flush.audit import TrailResult
from functions.flush.records import (
    BatchOutcome,
    BatchRejected,
    MeteringEntry,
    MeteringRecord,
    MeteringUnavailable,
    Placement,
    ReconciledMark,
    RecordOutcome,
    RecordResult,
    RetentionFloor,
    UnsentMark,
)
from functions.lifecycle.agreement_entitlements import AgreementEntitlement, AgreementEntitlementsUnavailable
from functions.registration.resolution import ResolvedCustomer
from functions.storage.errors import ConditionFailed, StorageError
from functions.usage.model import HOUR, IDENTITY_LIFETIME, WRITE_START_DEADLINE, UsageEvent, identity_of
from operations.refund_claims import Aliases, AskedRefund, EarlierRefunds, read_earlier

T = TypeVar("T")


# the flush recorded, long before any test's hours, that usage is kept the default 400 days (a stack running for years)
LONG_KEPT = RetentionFloor(datetime(2000, 1, 1, tzinfo=UTC), 400)


class InMemoryLifecycleStore:
    """``functions.customers.subjects.LifecycleStore``: the latest time per kind, links, free-trial words."""

    def __init__(self) -> None:
        self.records: dict[str, SubjectRecord] = {}
        self.notices: dict[tuple[str, str], AgreementNotice] = {}  # (agreement id, key): the newest

    def record(self, subject: str, kind: LifecycleKind, at: datetime) -> bool:
        current = self.records.get(subject, SubjectRecord(LifecycleTimes()))
        merged = current.times.merge(kind, at)
        self.records[subject] = replace(current, times=merged)
        return merged != current.times

    def link(self, subject: str, agreement_id: str) -> None:
        current = self.records.get(subject, SubjectRecord(LifecycleTimes()))
        self.records[subject] = replace(current, agreements=current.agreements | {agreement_id})

    def read(self, subjects: Sequence[str]) -> dict[str, SubjectRecord]:
        return {s: self.records[s] for s in subjects if s in self.records}

    def record_deprovision(self, subject: str, at: datetime) -> None:
        current = self.records.get(subject, SubjectRecord(LifecycleTimes()))
        times = replace(current.times, deprovisioned_times=current.times.deprovisioned_times | {at})
        self.records[subject] = replace(current, times=times)

    def record_start(self, subject: str, at: datetime) -> None:
        current = self.records.get(subject, SubjectRecord(LifecycleTimes()))
        if current.start is None:
            self.records[subject] = replace(current, start=at)

    def record_free_trial_term(self, subject: str, word: FreeTrialWord) -> bool:
        current = self.records.get(subject, SubjectRecord(LifecycleTimes()))
        if current.free_trial is not None and current.free_trial.at >= word.at:
            return False
        self.records[subject] = replace(current, free_trial=word)
        return True

    def record_notice(self, notice: AgreementNotice) -> bool:
        kept = self.notices.get((notice.agreement_id, notice.key))
        if kept is not None and kept.order >= notice.order:
            return False
        self.notices[(notice.agreement_id, notice.key)] = notice
        return True


@dataclass
class InMemoryCustomers:
    """The customers and contacts tables: ``CustomerRepository``, ``LifecycleCustomers``, ``RegistrationStore`` and
    the operator's ``ContactKeeper`` at once."""

    lifecycle_store: InMemoryLifecycleStore = field(default_factory=InMemoryLifecycleStore)
    stored: dict[str, Customer] = field(default_factory=dict)
    nonces: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)  # the contacts table: personal data apart
    signups: dict[str, str] = field(default_factory=dict)  # the sign-up value each customer may exchange
    tenant_links: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # the tenant link it allows, until
    erased: set[str] = field(default_factory=set)  # erased since their last registration: no sign-up value starts
    exchanged: dict[str, str] = field(default_factory=dict)  # the sign-up value exchanged (a retry answers it again)
    exchange_keys: dict[str, str | None] = field(default_factory=dict)  # the first exchange's Idempotency-Key
    linked: dict[str, str] = field(default_factory=dict)  # the tenant link used (a retry of it is done already)
    # when a registration first linked each (customer, agreement)
    agreements_linked: dict[tuple[str, str | None], datetime | None] = field(default_factory=dict)

    def put(self, customer: Customer) -> None:
        self.stored[customer.ref.key] = customer

    def get(self, ref: CustomerRef) -> Customer | None:
        customer = self.stored.get(ref.key)
        return with_lifecycle(customer, self.lifecycle(customer)) if customer else None

    def get_many(self, refs: Collection[CustomerRef]) -> dict[CustomerRef, Customer | None]:
        return {ref: self.get(ref) for ref in refs}

    def list_all(self) -> Iterator[Customer]:
        for customer in list(self.stored.values()):
            yield with_lifecycle(customer, self.lifecycle(customer))

    def of_account(self, account_id: str, product_code: str | None = None) -> list[Customer]:
        return [
            c
            for c in self.stored.values()
            if c.customer_aws_account_id == account_id and product_code in (None, c.ref.product_code)
        ]

    def lifecycle(self, customer: Customer) -> BuyerLifecycle:
        return buyer_lifecycle(customer, self.lifecycle_store.read)

    def notices(self) -> list[AgreementNotice]:
        """``operations.queries.NoticeReader``: every agreement's newest notices, newest first."""
        return latest(self.lifecycle_store.notices.values())

    def with_notices(self) -> list[tuple[Customer, list[AgreementNotice]]]:
        found = self.notices()
        return [(c, [n for n in found if n.agreement_id in self.lifecycle(c).agreements]) for c in self.list_all()]

    def set_final_usage_cutoff(self, ref: CustomerRef, cutoff: datetime, own_from: datetime) -> bool:
        stored = self.stored[ref.key].final_usage_cutoff
        if stored is not None and own_from <= stored <= cutoff:
            return False
        self.stored[ref.key] = replace(self.stored[ref.key], final_usage_cutoff=cutoff)
        return True

    def mark_final_usage_sent(self, ref: CustomerRef, cutoff: datetime) -> bool:
        self.stored[ref.key] = replace(self.stored[ref.key], final_usage_sent=cutoff)
        return True

    def mark_announced(self, ref: CustomerRef, attribute: str, at: datetime) -> bool:
        current: datetime | None = getattr(self.stored[ref.key], attribute)
        if current is not None and current >= at:
            return False
        if attribute == "announced_activation":
            self.stored[ref.key] = replace(self.stored[ref.key], announced_activation=at)
        else:
            self.stored[ref.key] = replace(self.stored[ref.key], announced_end=at)
        return True

    def set_entitlements(self, ref: CustomerRef, entitlements: tuple[dict[str, object], ...]) -> bool:
        self.stored[ref.key] = replace(self.stored[ref.key], entitlements=entitlements)
        return True

    def upsert_registration(self, registration: Customer, completion_nonce: str) -> Customer:
        self.nonces[registration.ref.key] = completion_nonce
        stored = self.stored.setdefault(registration.ref.key, registration)
        # as the DynamoDB repository keeps it: when a registration first linked each agreement
        key = (registration.ref.key, registration.agreement_id)
        linked = self.agreements_linked[key] = self.agreements_linked.get(key) or registration.agreement_linked_at
        kept = replace(
            registration,
            agreement_linked_at=linked,
            state=stored.state,
            state_changed_at=stored.state_changed_at,
            registered_at=stored.registered_at,
            # as the DynamoDB repository's update: what the registration does not name stays as stored
            announced_activation=stored.announced_activation,
            announced_end=registration.announced_end or stored.announced_end,
            final_usage_cutoff=registration.final_usage_cutoff or stored.final_usage_cutoff,
            final_usage_sent=registration.final_usage_sent or stored.final_usage_sent,
            entitlements=registration.entitlements or stored.entitlements,
            tenant_id=stored.tenant_id,
        )
        if registration.free_trial_known_at is None:  # terms not read: what was stored stays
            kept = replace(kept, free_trial=stored.free_trial, free_trial_known_at=stored.free_trial_known_at)
        self.stored[registration.ref.key] = kept
        return with_lifecycle(kept, self.lifecycle(kept))

    def clear_erasure(self, ref: CustomerRef) -> None:
        self.erased.discard(ref.key)

    def set_contact(self, ref: CustomerRef, contact: dict[str, str], completion_nonce: str) -> Customer | None:
        if ref.key not in self.stored:
            raise ConditionFailed("none", code="ConditionalCheckFailed", retryable=False)
        if self.nonces.pop(ref.key, None) != completion_nonce:
            return None
        self.contacts[ref.key] = dict(contact)
        return self.stored[ref.key]

    def confirm_free_trial(self, ref: CustomerRef, free_trial: bool, at: datetime) -> bool:
        stored = self.stored.get(ref.key)
        if stored is None or (stored.free_trial_known_at is not None and stored.free_trial_known_at >= at):
            return False
        self.stored[ref.key] = dataclasses.replace(stored, free_trial=free_trial, free_trial_known_at=at)
        return True

    def start_signup(self, ref: CustomerRef, nonce: str) -> None:
        if ref.key not in self.stored:
            raise ConditionFailed("none", code="ConditionalCheckFailed", retryable=False)
        if ref.key in self.erased:
            raise SingleUseSpent("erased")
        self.signups[ref.key] = nonce
        self.exchanged.pop(ref.key, None)

    def exchange_signup(
        self, ref: CustomerRef, nonce: str, link_nonce: str, link_until: datetime, idempotency_key: str | None = None
    ) -> tuple[Customer, str]:
        if ref.key not in self.stored:
            raise ConditionFailed("none", code="ConditionalCheckFailed", retryable=False)
        if self.signups.get(ref.key) != nonce:
            same_key = idempotency_key is not None and self.exchange_keys.get(ref.key) == idempotency_key
            if self.exchanged.get(ref.key) == nonce and ref.key in self.tenant_links and same_key:
                return self.stored[ref.key], self.tenant_links[ref.key][0]
            raise SingleUseSpent("spent")
        del self.signups[ref.key]
        self.exchanged[ref.key] = nonce
        self.exchange_keys[ref.key] = idempotency_key
        self.linked.pop(ref.key, None)
        self.tenant_links[ref.key] = (link_nonce, link_until)
        return self.stored[ref.key], link_nonce

    def link_tenant(self, ref: CustomerRef, tenant_id: str, nonce: str, now: datetime) -> bool:
        stored = self.stored.get(ref.key)
        if stored is None:
            raise ConditionFailed("none", code="ConditionalCheckFailed", retryable=False)
        if self.linked.get(ref.key) == nonce and stored.tenant_id == tenant_id:
            return False
        allowed, until = self.tenant_links.get(ref.key, ("", now))
        if allowed != nonce or ref.key in self.linked:
            raise SingleUseSpent("spent")
        if until <= now:
            raise SingleUseExpired("expired")
        if stored.tenant_id not in (None, tenant_id):
            raise TenantConflict(stored.tenant_id)
        self.linked[ref.key] = nonce
        self.stored[ref.key] = dataclasses.replace(stored, tenant_id=tenant_id)
        return stored.tenant_id != tenant_id

    def of_tenant(self, tenant_id: str) -> list[Customer]:
        return [c for c in self.list_all() if c.tenant_id == tenant_id]

    def set_tenant(self, ref: CustomerRef, tenant_id: str, *, replace: bool = False) -> bool:
        stored = self.stored.get(ref.key)
        if stored is None:
            raise ConditionFailed("none", code="ConditionalCheckFailed", retryable=False)
        if stored.tenant_id not in (None, tenant_id) and not replace:
            raise TenantConflict(stored.tenant_id)
        self.stored[ref.key] = dataclasses.replace(stored, tenant_id=tenant_id)
        return stored.tenant_id != tenant_id

    def contact(self, ref: CustomerRef) -> dict[str, str]:
        return dict(self.contacts.get(ref.key, {}))

    def forget_contact(self, ref: CustomerRef) -> list[str]:
        for single_use in (
            self.nonces,
            self.signups,
            self.tenant_links,
            self.exchanged,
            self.exchange_keys,
            self.linked,
        ):
            single_use.pop(ref.key, None)
        self.erased.add(ref.key)
        stored = self.stored.get(ref.key)
        tenant = [] if stored is None or stored.tenant_id is None else ["tenant_id"]
        if stored is not None:
            self.stored[ref.key] = dataclasses.replace(stored, tenant_id=None)
        return sorted(self.contacts.pop(ref.key, {})) + tenant


class InMemoryUsage:
    """The usage table: ``UsageStore`` (ingest writes: identities, then events) and ``UsageReader`` (the flush reads),
    with the DynamoDB store's rules (``functions/usage/store.py``): an identity is kept until ``IDENTITY_LIFETIME``
    after its billing hour, an event once under its hour and id; with ``clock``, a write not started within
    ``WRITE_START_DEADLINE`` of its acceptance is refused (retryable)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.events: dict[tuple[datetime, str, str], UsageEvent] = {}
        self.identities: dict[tuple[str, str], tuple[UsageEvent, str]] = {}
        self._clock = clock

    def claim(self, events: Sequence[UsageEvent], request: str) -> list[UsageEvent | None]:
        kept: list[UsageEvent | None] = []
        for event in events:
            found = self.identities.get(identity_of(event))
            if found is not None and found[0].billing_hour + IDENTITY_LIFETIME >= event.received_at:
                kept.append(found[0])
                continue
            self.identities[identity_of(event)] = (event, request)
            kept.append(None)
        return kept

    def release(self, events: Sequence[UsageEvent], request: str) -> None:
        for event in events:
            if self.identities.get(identity_of(event), (None, ""))[1] == request:
                del self.identities[identity_of(event)]

    def reclaim(self, event: UsageEvent, kept: UsageEvent) -> bool:
        found = self.identities.get(identity_of(event))
        if found is None or found[0].received_at != kept.received_at:
            return False
        self.identities[identity_of(event)] = (event, "reclaimed")
        return True

    def kept(self, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        return {identity: self.identities[identity][0] for identity in identities if identity in self.identities}

    def is_stored(self, event: UsageEvent) -> bool:
        return (event.hour, event.event_id, event.customer_key) in self.events

    def late(self, event: UsageEvent) -> bool:
        """Whether a write of ``event`` starting now would start too late (and be refused)."""
        return self._clock is not None and self._clock.now() - event.received_at > WRITE_START_DEADLINE

    def add(self, events: Sequence[UsageEvent]) -> list[bool]:
        new = []
        for event in events:
            if self.late(event):
                raise StorageError(
                    f"usage event {event.event_id} not written", code="WriteDeadlineExceeded", retryable=True
                )
            key = (event.hour, event.event_id, event.customer_key)
            new.append(key not in self.events)
            self.events.setdefault(key, event)
        return new

    def events_of_hour(self, hour: datetime) -> Iterator[UsageEvent]:
        return iter([e for (h, _, _), e in sorted(self.events.items()) if h == hour and e.late_billing_hour is None])

    def late_events_billed_in(self, hour: datetime) -> Iterator[UsageEvent]:
        return iter([e for e in self.events.values() if e.late_billing_hour == hour])

    def stored(self) -> list[UsageEvent]:
        return list(self.events.values())


class InMemoryLedger:
    """``functions.flush.records.MeteringLedger``: sealed records with their outcomes, the cursor, carries, lease."""

    def __init__(self) -> None:
        self.records: dict[tuple[datetime, str], tuple[MeteringRecord, str]] = {}
        self.results: dict[tuple[datetime, str], RecordResult] = {}
        self.carries: dict[datetime, list[MeteringRecord]] = defaultdict(list)
        self.consumed: set[tuple[datetime, str]] = set()
        self.placed: dict[tuple[datetime, str], Placement] = {}
        self.next_hour: datetime | None = None
        self.mark = UnsentMark(None, 0)
        self.lease: tuple[str, datetime] | None = None
        self.reconciled: datetime | None = None
        self.reconciled_version = 0
        self.floor = RetentionFloor()  # as the DynamoDB ledger records it: since its first seal (days: unset here)
        self.dry_run_hours: set[datetime] = set()
        self.modes_since: datetime | None = None  # the first hour it sealed (each hour's mode kept from there)

    def reconciled_until(self) -> ReconciledMark:
        return ReconciledMark(self.reconciled, self.reconciled_version)

    def retention_floor(self) -> RetentionFloor:
        return self.floor

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return hour in self.dry_run_hours

    def modes_kept_since(self) -> datetime | None:
        return self.modes_since

    def move_reconciled(self, seen: ReconciledMark, to: datetime) -> bool:
        if ReconciledMark(self.reconciled, self.reconciled_version) != seen:
            return False
        self.reconciled, self.reconciled_version = to, seen.version + 1
        return True

    def next_hour_to_seal(self) -> datetime | None:
        return self.next_hour

    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        if not records:
            return []
        # as the DynamoDB ledger: the marks back to the earliest hour (each a new version), before and after
        earliest = min(r.hour for r in records)
        self._move_marks_back(earliest)
        unsent = self._write(records)
        self._move_marks_back(earliest)
        return unsent

    def _move_marks_back(self, earliest: datetime) -> None:
        hour = self.mark.hour if self.mark.hour is None or self.mark.hour <= earliest else earliest
        self.mark = UnsentMark(hour, self.mark.version + 1)
        if self.reconciled is not None and self.reconciled >= earliest:
            self.reconciled, self.reconciled_version = earliest, self.reconciled_version + 1

    def _write(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        unsent = []
        named = set()
        for record in records:
            if (record.hour, record.key) in named:  # once, if named twice (as the DynamoDB ledger)
                continue
            named.add((record.hour, record.key))
            stored = self.records.setdefault((record.hour, record.key), (record, "pending"))
            if stored[1] == "pending":
                unsent.append(stored[0])
        return unsent

    def write_hour(self, hour: datetime, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        unsent = self._write(records)
        given = {r.key for r in records}
        stale = [
            r for (h, key), (r, s) in sorted(self.records.items()) if h == hour and key not in given and s == "pending"
        ]
        return unsent + stale

    def seal(self, hour: datetime, *, dry_run: bool = False) -> bool:
        if self.next_hour is not None and self.next_hour != hour:
            return False
        self.next_hour = hour + HOUR
        if dry_run:
            self.dry_run_hours.add(hour)
        self.modes_since = self.modes_since or hour
        self.floor = RetentionFloor(self.floor.since or hour, self.floor.days)
        return True

    def unsent_mark(self) -> UnsentMark:
        return self.mark

    def entries_of_hour(self, hour: datetime) -> list[MeteringEntry]:
        entries = []
        for (h, key), (record, status) in sorted(self.records.items()):
            if h == hour:
                result = self.results.get((h, key))
                entries.append(
                    MeteringEntry(
                        record, status, *((result.metering_record_id, result.reason, result.at) if result else ())
                    )
                )
        return entries

    def pending(self, mark: UnsentMark) -> Iterator[MeteringRecord]:
        # as the table is read: only sealed hours from the mark on, so a mark moved too far loses records here too
        found = (
            r
            for r, s in self.records.values()
            if s == "pending" and (mark.hour is None or r.hour >= mark.hour) and self.sealed(r.hour)
        )
        return iter(sorted(found, key=lambda r: (r.hour, r.key)))

    def sealed(self, hour: datetime) -> bool:
        return self.next_hour is not None and hour < self.next_hour

    def move_unsent_mark(self, mark: UnsentMark, hour: datetime) -> bool:
        if mark.version != self.mark.version:
            return False
        self.mark = UnsentMark(hour, mark.version + 1)
        return True

    def write_results(self, results: Sequence[RecordResult]) -> None:
        for result in results:
            key = (result.record.hour, result.record.key)
            self.records[key] = (result.record, result.status)
            self.results[key] = result

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return [c for c in self.carries.get(hour, []) if (hour, c.key) not in self.placed]

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return [(c, self.placed[(hour, c.key)]) for c in self.carries.get(hour, []) if (hour, c.key) in self.placed]

    def write_carry(self, records: Sequence[MeteringRecord]) -> None:
        for record in records:
            if all(c.key != record.key for c in self.carries[record.hour]):
                self.carries[record.hour].append(record)

    def consume_carry(self, record: MeteringRecord) -> bool:
        if (record.hour, record.key) in self.placed:
            return False
        self.consumed.add((record.hour, record.key))
        return True

    def place_carry(self, record: MeteringRecord, placement: Placement) -> Placement | None:
        key = (record.hour, record.key)
        if key in self.consumed:
            return None
        self.write_carry([record])
        return self.placed.setdefault(key, list(placement))

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool:
        if self.lease is not None and self.lease[1] >= now:
            return False
        self.lease = (owner, until)
        return True

    def release_lease(self, owner: str) -> None:
        if self.lease is not None and self.lease[0] == owner:
            self.lease = None

    def status(self, record: MeteringRecord) -> str:
        return self.records[(record.hour, record.key)][1]


class InMemoryQuotaSlots:
    """``functions.flush.sender.QuotaSlots``: the one call schedule every sender shares, as the metering table keeps it
    (``functions/flush/quota.py``): slots handed out in turn, from ``now`` where nobody holds a later one."""

    def __init__(self) -> None:
        self.next: float | None = None
        self.blocks: list[int] = []  # each reservation's count

    def reserve(self, count: int, interval: float, now: float) -> float:
        start = now if self.next is None or self.next < now else self.next
        self.next = start + count * interval
        self.blocks.append(count)
        return start


class FakeMarketplace:
    """``functions.flush.records.MeteringGateway`` with Marketplace's billing rules: one record per (customer,
    dimension, hour), an identical resend answered with the first id, a different one DuplicateRecord. ``refuse``
    names customers whose records reject their whole call; ``unavailable`` fails the next calls; ``unprocessed``
    leaves the next calls' records unprocessed."""

    def __init__(self, *, refuse: set[str] | None = None, unavailable: int = 0, unprocessed: int = 0) -> None:
        self.refuse = refuse or set()
        self.unavailable = unavailable
        self.unprocessed = unprocessed
        self.billed: dict[tuple[str, str, datetime], tuple[MeteringRecord, str]] = {}
        self.calls: list[list[MeteringRecord]] = []

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        self.calls.append(list(records))
        if self.unavailable:
            self.unavailable -= 1
            raise MeteringUnavailable("ThrottlingException", "Rate exceeded")
        if any(r.customer in self.refuse for r in records):
            raise BatchRejected("InvalidLicenseException", "refused")
        if self.unprocessed:
            self.unprocessed -= 1
            return BatchOutcome((), tuple(records))
        outcomes = []
        for record in records:
            key = (record.customer, record.dimension, record.hour)
            first = self.billed.setdefault(key, (record, str(uuid.uuid4())))
            same = first[0].quantity == record.quantity
            outcomes.append(RecordOutcome(record, "Success" if same else "DuplicateRecord", first[1]))
        return BatchOutcome(tuple(outcomes), ())

    def units(self, customer: str) -> int:
        return int(sum(r.quantity for (c, _, _), (r, _) in self.billed.items() if c == customer))


class Killed(BaseException):
    """The sender's process killed (a timeout, an out-of-memory) right after Marketplace billed its call."""


class LoggedMarketplace(FakeMarketplace):
    """``FakeMarketplace`` with CloudTrail (``functions.flush.audit.TrailReader``): each result of each call logged
    when the call came, by ``clock``. While ``killing``, the sender dies (``Killed``) before it reads the answer."""

    killing = False

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.logged: list[TrailResult] = []

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        outcome = super().batch_meter_usage(records)
        for o in outcome.outcomes:
            r = o.record
            self.logged.append(
                TrailResult(
                    r.customer, None, r.dimension, r.hour, r.quantity, o.status, o.metering_record_id, self.clock.now()
                )
            )
        if self.killing:
            raise Killed
        return outcome

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        return iter([r for r in self.logged if r.event_time >= start and (end is None or r.event_time <= end)])


class FakeResolver:
    """``functions.registration.resolution.CustomerResolver``: one answer (or failure) for every token."""

    def __init__(self, outcome: ResolvedCustomer | Exception) -> None:
        self.outcome = outcome
        self.tokens: list[str] = []

    def resolve(self, token: str) -> ResolvedCustomer:
        self.tokens.append(token)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeAgreementTerms:
    """``functions.registration.resolution.AgreementTerms``: whether each agreement has a free trial (or a failure)."""

    def __init__(self, free_trial: bool | Exception = False) -> None:
        self.free_trial = free_trial
        self.agreements: list[str] = []

    def includes_free_trial(self, agreement_id: str) -> bool:
        self.agreements.append(agreement_id)
        if isinstance(self.free_trial, Exception):
            raise self.free_trial
        return self.free_trial


@dataclass
class Timers:
    """The lifecycle's ``FinalUsage`` port: delayed messages kept for the test to deliver, sending through ``send``."""

    send_usage: Callable[[Customer, Callable[[], bool]], None] = lambda customer, out_of_time: None
    scheduled: list[tuple[CustomerRef, float]] = field(default_factory=list)

    def schedule(self, ref: CustomerRef, delay_seconds: float) -> None:
        self.scheduled.append((ref, delay_seconds))

    def send(self, customer: Customer, out_of_time: Callable[[], bool]) -> None:
        self.send_usage(customer, out_of_time)


@dataclass
class FakeAgreementEntitlements:
    """GetAgreementEntitlements: each agreement's entitlements as set, every ask kept; ``failing``: it is refused."""

    known: dict[str, list[AgreementEntitlement]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    failing: bool = False

    def of(self, agreement_id: str) -> list[AgreementEntitlement]:
        self.asked.append(agreement_id)
        if self.failing:
            raise AgreementEntitlementsUnavailable("ThrottlingException")
        return list(self.known.get(agreement_id, []))


class InMemoryRefundClaims:
    """``operations.refund_claims.DynamoRefundClaims`` on a dict of the items it keeps under ``pk = REFUND``: the
    refund as sent (``ASKED#<token>``, kept if absent), each hour's claim (kept if absent or held by one of the
    tokens allowed), an answer set on the refund (an update: it makes the item where none is, as DynamoDB does),
    removals only by the token that holds them. What earlier runs asked for is read by the same code
    (``read_earlier``). ``step(operation, phase)``: called before and after each item's read or write (the
    simulator's port calls)."""

    def __init__(self, step: Callable[[str, str], None] = lambda operation, phase: None) -> None:
        self.step = step
        self.claims: dict[str, tuple[str, datetime]] = {}  # an hour's key: (the token holding it, when claimed)
        self.asked: dict[str, AskedRefund] = {}  # a token: the refund as sent (with AWS's answer once it came)
        self.answer_only: dict[str, str] = {}  # a token answered with no refund kept: an item with request_id alone

    def _call(self, operation: str, act: Callable[[], T]) -> T:
        self.step(operation, "before")
        done = act()
        self.step(operation, "after")
        return done

    def refunds(self, tokens: Iterable[str]) -> list[AskedRefund]:
        wanted = sorted(set(tokens))

        def read() -> list[AskedRefund]:
            return [self.asked[t] for t in wanted if t in self.asked and t not in self.answer_only]

        return self._call("batch_get_item", read)

    def earlier(
        self,
        keys: Sequence[str],
        failed_adjustments: set[str],
        formerly: Mapping[str, str],
        aliases: Aliases,
    ) -> EarlierRefunds:
        return read_earlier(self, keys, failed_adjustments, formerly, aliases)

    def unanswered(self) -> list[AskedRefund]:
        def read() -> list[AskedRefund]:
            return [
                a
                for t, a in sorted(self.asked.items())
                if a.request_id is None and a.void is None and t not in self.answer_only
            ]

        return self._call("query", read)

    def claims_of(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        if not keys:
            return []
        return self._call("batch_get_item", lambda: [(k, self.claims[k][0]) for k in keys if k in self.claims])

    def claim(self, asked: AskedRefund, at: datetime, replacing: Iterable[str] = ()) -> bool:
        token = asked.entry.client_token
        holders = {token, *replacing}

        def keep() -> bool:
            kept = self.asked.get(token)
            if token in self.answer_only or (kept is not None and (kept.request_id or kept.void) is not None):
                return False  # answered meanwhile (a run beside this one sent it), or void: never sent again
            # kept already, unanswered: a retry of it, sent now (the whole item written again: no refused mark)
            self.asked[token] = replace(kept or asked, at=(kept or asked).at or at, sent=at, refused=None)
            return True

        if not self._call("put_item", keep):
            return False
        for key in dict.fromkeys(asked.keys):

            def put(key: str = key) -> bool:
                holder = self.claims.get(key)
                if holder is not None and holder[0] not in holders:
                    return False
                self.claims[key] = (token, at)
                return True

            if not self._call("put_item", put):
                self.release(asked.keys, token)
                return False
        return True

    def answered(self, token: str, request_id: str) -> None:
        def update() -> None:
            if token in self.asked:
                self.asked[token] = replace(self.asked[token], request_id=request_id, void=None)
            else:
                self.answer_only[token] = request_id

        self._call("update_item", update)

    def answers(self) -> dict[str, str]:
        def read() -> dict[str, str]:
            kept = {a.request_id: t for t, a in self.asked.items() if a.request_id is not None}
            return kept | {request_id: t for t, request_id in self.answer_only.items()}

        return self._call("query", read)

    def void(self, asked: AskedRefund, at: datetime) -> bool:
        token = asked.entry.client_token

        def update() -> bool:
            kept = self.asked.get(token)
            if kept is None or token in self.answer_only or kept.request_id is not None or kept.void is not None:
                return False
            if kept.sent != asked.sent:
                return False
            self.asked[token] = replace(kept, void=at)
            return True

        return self._call("update_item", update)

    def refused(self, token: str, at: datetime) -> None:
        def update() -> None:
            kept = self.asked.get(token)
            if kept is not None and kept.request_id is None and token not in self.answer_only:
                self.asked[token] = replace(kept, refused=at)

        self._call("update_item", update)

    def claimed_at(self, asked: AskedRefund) -> datetime | None:
        token = asked.entry.client_token

        def read() -> datetime | None:
            times = [self.claims[k][1] for k in dict.fromkeys(asked.keys) if self.claims.get(k, ("",))[0] == token]
            return max(times, default=None)

        return self._call("batch_get_item", read)

    def release(self, keys: Sequence[str], token: str) -> None:
        def delete(key: str) -> bool:
            if key.startswith("ASKED#"):
                kept = self.asked.get(token)
                if token in self.answer_only or (kept is not None and kept.request_id is not None):
                    return False  # answered (another run sent it and AWS took it): kept, with its hours
                self.asked.pop(token, None)
            elif self.claims.get(key, ("",))[0] == token:
                del self.claims[key]
            return True

        for key in ("ASKED#" + token, *keys):
            if not self._call("delete_item", functools.partial(delete, key)):
                return


# the licence of buyer n in ``licence_buyers_usage``
BUYER_LICENCE = "arn:aws:license-manager::294406891311:license:l-{:04d}"


def licence_buyers_usage(buyers: int, at: datetime, quantity: int = 1) -> list[UsageEvent]:
    """One event (``e<n>``) of ``quantity`` calls of product ``p`` at ``at`` for each of ``buyers`` licence buyers
    (``BUYER_LICENCE``), received when stamped."""
    return [
        UsageEvent(
            event_id=f"e{n}",
            product_code="p",
            customer_key=f"LICENSE#{BUYER_LICENCE.format(n)}",
            customer_aws_account_id="111122223333",
            dimension="calls",
            quantity=Decimal(quantity),
            timestamp=at,
            received_at=at,
            license_arn=BUYER_LICENCE.format(n),
        )
        for n in range(buyers)
    ]
