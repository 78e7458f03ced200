"""Deliberately broken variants of our code: each a hole the simulator must find within 1,000 seeds
(``tests/sim/test_mutants.py``). A mutant that survives is a hole in the simulator, not a pass.

Each patches our real code (or, for the ledger, the model of the DynamoDB ledger's contract the simulator runs) for
as long as its context lasts: in the worker process that runs the seeds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.customers import subscription
from functions.customers.model import FINAL_USAGE_WINDOW, Customer
from functions.flush import aggregate, customer, ledger, service
from functions.flush.dry_run import DryRunMeteringGateway
from functions.flush.records import BatchOutcome, MeteringGateway, MeteringRecord
from functions.flush.sender import Sender
from functions.flush.service import FlushDeps
from functions.lifecycle.service import Lifecycle
from functions.settings import Settings
from functions.usage import ingest, model
from functions.usage.model import UsageEvent, hour_key
from operations import adjust, adjust_cli, refund_settlement
from operations.agreement_billing import BillingAdjustment
from operations.refund_claims import AskedRefund, EarlierRefunds
from operations.refund_settlement import Settlement, Verdict
from sim.ports import SimLedger
from tests import fakes


@contextlib.contextmanager
def _patched(target: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


@contextlib.contextmanager
def per_hour_dedup() -> Iterator[None]:
    """An event id counts once per hour only (the code before issue 23): a resend stamped in another hour is new."""

    def identity(event: UsageEvent) -> tuple[str, str]:
        return (event.customer_key, f"{event.event_id}@{hour_key(event.hour)}")

    with _patched(model, "identity_of", identity), _patched(fakes, "identity_of", identity):
        yield


@contextlib.contextmanager
def rewrite_sealed_total() -> Iterator[None]:
    """Sealing stores an hour's records again over what was stored (outcomes and all)."""
    with _patched(SimLedger, "rewrites", True):
        yield


@contextlib.contextmanager
def strand_final_usage() -> Iterator[None]:
    """A leaving buyer's records, written outside the hourly sealing, leave the unsent mark where it is: a record
    placed in an hour the flush has passed (a carry) and not sent by the step is sent by nobody."""
    with _patched(SimLedger, "strands", True):
        yield


@contextlib.contextmanager
def read_one_partition() -> Iterator[None]:
    """An hour is read from ``REC#<hour>`` alone, as the ledger before its chunks were dealt over partitions read it
    (a rollback to it, or a reader that forgot the other partitions): records stored in the others are never found."""
    with _patched(SimLedger, "partitions_read", 1):
        yield


@contextlib.contextmanager
def chunk_parked_carry() -> Iterator[None]:
    """A parked carry (``#carried-past-end``) is stored in a chunk like any record (the ledger before review 25b): a
    chunk rebuilds each record's key from its fields, so it reads back as the buyer's own record of that hour."""
    with _patched(ledger, "_keyed_apart", lambda record: False):
        yield


@contextlib.contextmanager
def legacy_success_ends_any() -> Iterator[None]:
    """A legacy unsubscribe-success ends whatever subscription the identifier has now (the code before review 23): a
    buyer back under the same identifier is ended by their earlier subscription's success."""
    with _patched(subscription, "_legacy_end", lambda legacy, view, stale: legacy.ended):
        yield


@contextlib.contextmanager
def success_paired_on_the_exact_hour() -> Iterator[None]:
    """Which legacy unsubscribe-success closes which pending, as attack 72's first version (6eaaccc) read it: only a
    success exactly an hour after a pending closes that one first; every other, however near a pending's hour, closes
    the earliest pending still open within two hours before it that the buyer did not come back from. AWS stamps its
    success about an hour on, to the millisecond: the first leave's success a moment off its hour, after the buyer came
    back and left again, ends their second leave at once."""

    def closes(
        pendings: frozenset[datetime], successes: frozenset[datetime], activations: frozenset[datetime]
    ) -> dict[datetime, datetime]:
        paired: dict[datetime, datetime] = {}
        for success in sorted(successes):
            if success - FINAL_USAGE_WINDOW in pendings and success - FINAL_USAGE_WINDOW not in paired:
                paired[success - FINAL_USAGE_WINDOW] = success
        for success in sorted(set(successes) - set(paired.values())):
            open_before = [
                p
                for p in pendings
                if p not in paired
                and success - subscription.CLOSES_WITHIN <= p <= success
                and not any(p < at <= success for at in activations)  # the buyer came back between
            ]
            if open_before:
                paired[min(open_before)] = success
        return paired

    with _patched(subscription, "_closes", closes):
        yield


@contextlib.contextmanager
def cutoff_at_midnight() -> Iterator[None]:
    """The flush takes last month's records for refused from midnight on the 1st (the month-end cutoff forgotten): it
    parks them TimestampOutOfBoundsException unsent, though Marketplace would take them until 06:00 UTC."""

    def window_missed(hour: datetime, now: datetime) -> bool:
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return now - hour >= service.METERING_WINDOW or hour < month_start

    with _patched(service, "window_missed", window_missed):
        yield


class _Refreshing:
    """A gateway whose retries send a record again with its total refreshed (one more unit, as if re-read)."""

    def __init__(self, gateway: MeteringGateway) -> None:
        self._gateway = gateway
        self._tried: set[tuple[datetime, str]] = set()

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        changed = [replace(r, quantity=r.quantity + 1) if (r.hour, r.key) in self._tried else r for r in records]
        self._tried.update((r.hour, r.key) for r in records)
        return self._gateway.batch_meter_usage(changed)


@contextlib.contextmanager
def resend_changed_record() -> Iterator[None]:
    """A retry (after throttling, a 5xx, a lost answer, unprocessed records) resends a changed record."""
    original = Sender.deliver

    def deliver(self: Sender, records: Sequence[MeteringRecord], tally: Any) -> Any:
        gateway = self._gateway
        self._gateway = _Refreshing(gateway)
        try:
            return original(self, records, tally)
        finally:
            self._gateway = gateway

    with _patched(Sender, "deliver", deliver):
        yield


@contextlib.contextmanager
def skip_final_usage() -> Iterator[None]:
    """A leaving buyer's final-usage step sends nothing (their timer runs, they end)."""
    original = Lifecycle.continue_ending

    class _Nothing:
        def __init__(self, timers: Any) -> None:
            self._timers = timers

        def schedule(self, *args: Any) -> None:
            self._timers.schedule(*args)

        def send(self, *args: Any) -> None:
            return None

    def continue_ending(self: Lifecycle, *args: Any, **kwargs: Any) -> Any:
        timers = self.final_usage
        self.final_usage = _Nothing(timers)
        try:
            return original(self, *args, **kwargs)
        finally:
            self.final_usage = timers

    with _patched(Lifecycle, "continue_ending", continue_ending):
        yield


@contextlib.contextmanager
def final_hour_refused() -> Iterator[None]:
    """A leaving buyer's usage is refused from their leave on (ingest's cutoff at the leave, not
    ``final_usage_cutoff_seconds`` into the final hour): nothing accepted is lost, the revenue of the final hour is."""

    def cutoff_at_the_leave(customer: Customer, settings: Settings) -> datetime:
        assert customer.state_changed_at is not None
        return customer.state_changed_at

    with _patched(ingest, "_cutoff", cutoff_at_the_leave):
        yield


@contextlib.contextmanager
def cursor_before_records() -> Iterator[None]:
    """The flush moves its seal cursor past an hour before that hour's records are stored."""

    def seal_closed_hours(
        deps: service.FlushDeps,
        now: datetime,
        out_of_time: Callable[[], bool],
        sealed_records: Callable[[list[MeteringRecord]], None],
        placed_to_send: Callable[[list[MeteringRecord]], list[MeteringRecord]],
    ) -> tuple[int, bool, datetime]:
        grace = timedelta(seconds=deps.settings.flush_grace_seconds)
        hour = deps.ledger.next_hour_to_seal() or model.hour_of(now - service.METERING_WINDOW)
        sealed = 0
        while service.closed(hour, now, grace):
            if out_of_time():
                return sealed, True, hour
            if not deps.ledger.seal(hour):  # the mutation: first the cursor...
                break
            records, carry = service.hour_records(deps, hour)
            unsent = deps.ledger.write_hour(hour, records)  # ...then the records
            if carry:
                deps.ledger.write_carry(carry)
            unsent += placed_to_send(service.finish_placements(deps, hour))
            sealed_records(unsent)
            sealed += 1
            hour += model.HOUR
        return sealed, False, hour

    with _patched(service, "_seal_closed_hours", seal_closed_hours):
        yield


@contextlib.contextmanager
def allocations_misattributed() -> Iterator[None]:
    """Sealing pairs an hour's tag sets with each other's totals (off by one): every record's total is right, and each
    tag set is billed another's usage."""
    allocations = aggregate.allocations_within_limits

    def misattributed(by_tags: dict[Any, Any], integer: bool) -> tuple[Any, ...]:
        kept = allocations(by_tags, integer)
        quantities = [a.quantity for a in kept]
        return tuple(replace(a, quantity=q) for a, q in zip(kept, quantities[1:] + quantities[:1], strict=True))

    with _patched(aggregate, "allocations_within_limits", misattributed):
        yield


@contextlib.contextmanager
def refunds_unclaimed() -> Iterator[None]:
    """``cli adjust`` keeps no claims (review 27, before 7c34e29): no earlier refund is known, every hour is claimed by
    any token. The client token is made from the hours a refund covers, so a window holding one more over-billed hour
    makes another token, and AWS refunds the first hours again."""

    def earlier(store: Any, keys: Any, failed: Any, formerly: Any, aliases: Any) -> EarlierRefunds:
        return EarlierRefunds({}, {}, [], frozenset())

    def claim(self: fakes.InMemoryRefundClaims, asked: AskedRefund, at: datetime, replacing: Any = ()) -> bool:
        self.asked.setdefault(asked.entry.client_token, asked)
        return True

    with _patched(fakes, "read_earlier", earlier), _patched(fakes.InMemoryRefundClaims, "claim", claim):
        yield


@contextlib.contextmanager
def refund_on_registered_agreement() -> Iterator[None]:
    """``cli adjust`` refunds every hour on the agreement the buyer registered with (before 9234c41): a renewed
    buyer's later hours are looked for on the old agreement's invoices."""

    def billed_on(customer: Any, lifecycle: Any, hour: datetime) -> tuple[str | None, str | None]:
        return customer.agreement_id, None

    with _patched(adjust, "billed_on", billed_on):
        yield


@contextlib.contextmanager
def renewal_starts_when_created() -> Iterator[None]:
    """An agreement starts when its Purchase Agreement Created is sent (before review 30): a future-dated renewal's
    hours before its start, still the old agreement's, are refunded on the renewal's invoice."""
    with _patched(fakes.InMemoryLifecycleStore, "record_start", lambda self, subject, at: None):
        yield


@contextlib.contextmanager
def answered_refund_resent() -> Iterator[None]:
    """``cli adjust`` proposes a refund again under its own token, answered or not, and claims it as a retry of itself
    (before attack 31 and c1bc76e): only AWS's memory of the token keeps an hour from being refunded again."""

    original = adjust.proposals

    def proposals(deps: Any, hours: Any, book: Any, asked: Any = None, failed: Any = None, floors: Any = None) -> Any:
        asked, before = asked or {}, dict[str, str]()
        while True:
            found = original(deps, hours, book, before, failed, floors)
            again = {
                key: asked[key]
                for proposal in found
                if proposal.problem is None
                for key in map(adjust.refund_key, proposal.hours)
                if asked.get(key, proposal.client_token) != proposal.client_token
            }
            if not again:
                return found
            before.update(again)

    def claim(self: fakes.InMemoryRefundClaims, asked: AskedRefund, at: datetime, replacing: Any = ()) -> bool:
        token = asked.entry.client_token
        if (kept := self.asked.get(token)) is not None and kept.request_id is not None:
            self.asked[token] = replace(kept, request_id=None)  # answered or not, a retry of it (before c1bc76e)
            try:
                return original_claim(self, asked, at, replacing)
            finally:
                self.asked[token] = kept
        return original_claim(self, asked, at, replacing)

    original_claim = fakes.InMemoryRefundClaims.claim
    with _patched(adjust_cli, "proposals", proposals), _patched(fakes.InMemoryRefundClaims, "claim", claim):
        yield


@contextlib.contextmanager
def unfound_refund_settled() -> Iterator[None]:
    """``cli adjust --settle`` keeps a refund AWS lists no adjustment of as answered, as if its answer were only late:
    a refund never sent (its run killed or refused before the call) keeps its hours "refunded before" for ever."""
    original = refund_settlement.settle

    def settle(refunds: Any, lookup: Any, answers: Any, now: datetime, claimed: Any = None) -> list[Settlement]:
        found = original(refunds, lookup, answers, now, claimed)
        unfound = BillingAdjustment("ba-unfound", "", Decimal(0), "USD", "COMPLETED", None, now)
        return [replace(s, verdict=Verdict.TAKEN, adjustment=unfound) if s.adjustment is None else s for s in found]

    with _patched(adjust_cli, "settle", settle):
        yield


@contextlib.contextmanager
def failed_refund_unheard() -> Iterator[None]:
    """``cli adjust --settle`` asks AWS nothing of answered refunds: a refund AWS failed whose Failed event was lost
    keeps its hours "refunded before" for ever."""
    with _patched(adjust_cli, "outcomes_unheard", lambda answered, heard, lookup: []):
        yield


@contextlib.contextmanager
def seal_ignores_mode() -> Iterator[None]:
    """The ledger keeps every hour as sealed live (the ledger before the mode of each hour was kept): the rehearsal's
    hours are taken for live ones."""
    seal = SimLedger.seal

    def sealed_live(self: SimLedger, hour: datetime, *, dry_run: bool = False) -> bool:
        return seal(self, hour)

    with _patched(SimLedger, "seal", sealed_live):
        yield


@contextlib.contextmanager
def forget_modes() -> Iterator[None]:
    """The ledger answers every hour as sealed live when asked (the marker written, never read): a leaving buyer's
    carry after going live is placed in the rehearsal's hours, and billed there."""

    def never(self: SimLedger, hour: datetime) -> bool:
        self._port("get_dry_run", "before")
        return False

    with _patched(SimLedger, "sealed_in_dry_run", never):
        yield


@contextlib.contextmanager
def first_live_hour_dry() -> Iterator[None]:
    """Live metering answers ``dry_run`` the records of the first hour sealed live too (an off-by-one at the mode's
    boundary): records left pending there, and a leaving buyer's, are billed by nobody (attack 70)."""
    original = service.dry_run_records

    def one_more(
        ledger: Any, records: list[MeteringRecord], sealed_before: datetime, entries_of_hour: Any
    ) -> list[MeteringRecord]:
        dry = original(ledger, records, sealed_before, entries_of_hour)
        keys = {(r.hour, r.key) for r in dry}
        return dry + [
            r
            for r in records
            if (r.hour, r.key) not in keys
            and r.hour < sealed_before
            and not ledger.sealed_in_dry_run(r.hour)
            and ledger.sealed_in_dry_run(r.hour - timedelta(hours=1))
        ]

    with _patched(service, "dry_run_records", one_more):
        yield


@contextlib.contextmanager
def step_stays_dry() -> Iterator[None]:
    """A leaving buyer's final-usage step after going live answers its records ``dry_run`` (the lifecycle function's
    gateway left in dry run by the deployment): their last usage billed by nobody (attack 70)."""
    original = customer.send_customer_usage

    def dry(buyer: Any, deps: FlushDeps, *, out_of_time: Callable[[], bool]) -> Any:
        return original(buyer, replace(deps, gateway=DryRunMeteringGateway(deps.clock)), out_of_time=out_of_time)

    with _patched(customer, "send_customer_usage", dry):
        yield


MUTANTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "per-hour-dedup": per_hour_dedup,
    "rewrite-sealed-total": rewrite_sealed_total,
    "resend-changed-record": resend_changed_record,
    "skip-final-usage": skip_final_usage,
    "final-hour-refused": final_hour_refused,
    "cursor-before-records": cursor_before_records,
    "strand-final-usage": strand_final_usage,
    "read-one-partition": read_one_partition,
    "legacy-success-ends-any": legacy_success_ends_any,
    "success-paired-on-the-exact-hour": success_paired_on_the_exact_hour,
    "chunk-parked-carry": chunk_parked_carry,
    "cutoff-at-midnight": cutoff_at_midnight,
    "allocations-misattributed": allocations_misattributed,
    "refunds-unclaimed": refunds_unclaimed,
    "refund-on-registered-agreement": refund_on_registered_agreement,
    "renewal-starts-when-created": renewal_starts_when_created,
    "answered-refund-resent": answered_refund_resent,
    "unfound-refund-settled": unfound_refund_settled,
    "failed-refund-unheard": failed_refund_unheard,
    "seal-ignores-mode": seal_ignores_mode,
    "forget-modes": forget_modes,
    "first-live-hour-dry": first_live_hour_dry,
    "step-stays-dry": step_stays_dry,
}


# mutants of cli adjust: caught only in worlds that draw refunds (``draw(refunds=True)``)
REFUND_MUTANTS = frozenset(
    {
        "refunds-unclaimed",
        "refund-on-registered-agreement",
        "renewal-starts-when-created",
        "answered-refund-resent",
        "unfound-refund-settled",
        "failed-refund-unheard",
    }
)


# mutants of the pairing of a leave's messages when a buyer comes back within the final hour they left and leaves again:
# caught only in worlds that draw quick returns (``draw(returns=True)``, ``--quick-returns``)
QUICK_RETURN_MUTANTS = frozenset({"success-paired-on-the-exact-hour"})


@contextlib.contextmanager
def applied(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    with MUTANTS[name]():
        yield
