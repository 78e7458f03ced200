"""What must hold in every world, checked as it runs (the ledger and Marketplace report a broken one the moment it
breaks) and once it has healed (``check``). The first broken invariant is what a failure reports.

1. Every unit the usage API accepted is in Marketplace's ledger exactly once, or parked with a reason a metric counts
   (never silently absent), under the tag set its producer allocated it to (where no unit could have been carried);
   nothing refused is ever billed; a 200 means billed as sent.
2. No record Marketplace has seen is ever sent again with a different quantity (``sim/marketplace.py``).
3. A sealed total never changes (``sim/ports.py``).
4. Every closed hour is reconciled, and its reconciliation finds no unexplained difference.
5. No buyer stays ``ending``; nobody is metered outside their subscription (before it started, after it ended).
And our code never crashes, and every invocation finishes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from functions.customers.model import SubscriptionState
from functions.customers.subscription import ABOUT_AN_HOUR
from functions.flush.audit import (
    ACCEPTED_NOT_SEALED,
    ANSWERED_IN_DRY_RUN,
    FAILED,
    MARKETPLACE_ANSWERS,
    PARKED,
    SETTLED_AFTER,
    UNKNOWN_TO_LEDGER,
    Finding,
)
from functions.flush.records import PARKED_CARRY, MeteringEntry, MeteringRecord, Placement
from functions.flush.service import MONTH_END_CUTOFF, MONTH_END_RUNS_EVERY, OUT_OF_WINDOW, window_missed
from functions.usage.model import HOUR, MAX_INTEGER_QUANTITY, Allocation, UsageEvent, hour_of
from sim.marketplace import FINAL_HOUR, Billed
from sim.plan import FLUSH_TIMEOUT
from sim.refusals import STAMPED_TO
from sim.world import World

PARKED_STATUSES = frozenset({"failed", "not_subscribed", "duplicate"})


def check(world: World) -> None:
    """Add every broken end-of-world invariant to ``world.violations``."""
    stored = world.usage.inner.stored()
    _modes(world)
    _units(world, stored)
    _answers(world, stored)
    _windows(world, stored)
    _reconciled(world)
    _nobody_ending(world)
    _state_as_marketplace_holds_it(world)


def _first_stored(stored: list[UsageEvent]) -> dict[tuple[str, str], UsageEvent]:
    """Each event id once per customer: the first version stored (what the producer's id stands for)."""
    first: dict[tuple[str, str], UsageEvent] = {}
    for event in sorted(stored, key=lambda e: e.received_at):
        first.setdefault((event.customer_key, event.event_id), event)
    return first


def _explained(world: World, entry: MeteringEntry) -> bool:
    """A record parked for a reason the world explains: out of Marketplace's window (parked once it had closed) after
    an outage of the flush or with Marketplace down at the month-end cutoff (``down_at_the_cutoff``); a
    leaving buyer's, after Marketplace ended them, where faults kept their final usage from going out before (or a
    zero-quantity record: nothing to bill)."""
    if entry.status == "duplicate":  # an outsider billed its customer's dimension in that hour first
        record = entry.record
        return (record.customer, record.dimension, record.hour) in world.marketplace.outsider
    if entry.status == "not_subscribed":
        return entry.record.quantity == 0 or world.observed.timer_failures[entry.record.customer_key] > 0
    if entry.status == "failed" and entry.reason == "CarriedPastEnd":
        return _no_hour_left(world, entry)
    if entry.status != "failed" or entry.reason != OUT_OF_WINDOW:
        return False
    # parked while Marketplace would still have taken it: no outage or incident excuses that
    parked = world.ledger.parked_at.get((entry.record.hour, entry.record.key))
    if parked is None or not window_missed(entry.record.hour, parked):
        return False
    return world.plan.outage is not None or down_at_the_cutoff(world, entry.record)


def down_at_the_cutoff(world: World, record: MeteringRecord) -> bool:
    """Refused at the month-end cutoff, with Marketplace down from the first scheduled run after the record was stored
    to the flush's last run before the cutoff: no run could send it. Not a record parked before the cutoff (only the
    24-hour window refuses one then), nor one a run could have sent while Marketplace answered."""
    incident = world.plan.incident
    stored = world.ledger.stored_at.get((record.hour, record.key))
    parked = world.ledger.parked_at.get((record.hour, record.key))
    cutoff = (record.hour.replace(day=1, hour=0) + timedelta(days=32)).replace(day=1) + MONTH_END_CUTOFF
    if incident is None or stored is None or parked is None or parked < cutoff:
        return False
    runs = (a.at for a in world.plan.actions if a.kind == "flush" and a.scheduled and a.at >= stored)
    return incident[0] <= min(runs, default=cutoff) and incident[1] > cutoff - MONTH_END_RUNS_EVERY


def _no_hour_left(world: World, entry: MeteringEntry) -> bool:
    """A leaving buyer's carry parked: every hour of their subscription before it, sealed as it was placed, already
    holds a record of its key."""
    record = entry.record
    licence = world.marketplace.licences[record.customer]
    key = record.key.removesuffix(PARKED_CARRY)
    taken = {e.record.hour for e in world.ledger.stored() if e.record.key == key}
    # the subscription it ends: the last to start before it (a legacy identifier is reused by a buyer back)
    hour = hour_of(max(start for start, _ in licence.windows if hour_of(start) < record.hour))
    # only hours sealed as it was placed could take it, in the mode of its own hour (a carry of a live hour is never
    # placed in hours sealed in dry run, nor a dry run's in live ones)
    sealed_before = world.ledger.sealed_before.get((record.hour, key)) or hour
    dry = world.ledger.dry_run_hours
    while hour < min(record.hour, sealed_before):
        if hour not in taken and (hour in dry) == (record.hour in dry):
            return False
        hour += HOUR
    return True


def _units(world: World, stored: list[UsageEvent]) -> None:
    truth: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for event in _first_stored(stored).values():
        truth[(event.license_arn or event.customer_identifier or "", event.dimension)] += event.quantity
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (customer, dimension, _), first in ours_billed(world):
        billed[(customer, dimension)] += first.quantity
    parked: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    unsent = 0
    parked_records = 0
    dry_hours = dry_run_hours(world)
    placed_live = _placed_from_live_hours(world, dry_hours)
    _live_carries_answered_dry_run(world, dry_hours)
    for where, first in ours_billed(world):
        customer, dimension, hour = where
        live_sender = not world.in_dry_run(world.marketplace.billed_by.get(where))
        # billed there by live metering before a dry run sealed the hour (a leaving buyer's final usage sent early,
        # then an emergency stop), or a live final hour's carry a dry run placed there (attack 65): by design
        if hour in dry_hours and not (live_sender and (where in placed_live or _sent_before_sealed(world, where))):
            world.violation(
                "nothing of an hour a dry run sealed is billed by this stack",
                f"{customer[-12:]} {dimension} of {hour:%Y-%m-%dT%H}: billed {first.quantity}",
            )
    for entry in world.ledger.stored():
        record = entry.record
        if entry.status == "dry_run":  # the dry run's: the seller's old integration bills it
            parked[(record.customer, record.dimension)] += record.quantity
        elif entry.status in PARKED_STATUSES:
            parked[(record.customer, record.dimension)] += record.quantity
            parked_records += 1
            if not _explained(world, entry):
                world.violation(
                    "accepted usage is billed, or parked for a reason the world explains",
                    f"{record.key} of {record.hour:%Y-%m-%dT%H} ({record.quantity}): {entry.reason or entry.status}",
                )
        elif entry.status == "pending":
            unsent += 1
            world.violation(
                "everything due is sent", f"{record.key} of {record.hour:%Y-%m-%dT%H} still unsent at the end"
            )
    # usage that landed after its hour was sealed (a write later than the in-flight margin): not billed, but counted by
    # the reconciliation of its hour, never silently absent
    reported = {
        (f.customer, f.dimension)
        for _, _, found in world.observed.reconciled
        for f in found
        if f.kind == ACCEPTED_NOT_SEALED
    }
    _units_per_tag_set(world, stored, truth, billed, parked)
    for key in sorted(set(truth) | set(billed) | set(parked)):
        accounted = billed[key] + parked[key]
        if accounted < truth[key] and key in reported and world.faults.injected.get("write landed late"):
            continue
        if billed[key] > truth[key]:
            world.violation(
                "every accepted unit is billed exactly once",
                f"{key[0][-12:]} {key[1]}: accepted {truth[key]}, billed {billed[key]}",
            )
        elif accounted != truth[key]:
            world.violation(
                "every accepted unit is billed exactly once, or parked",
                f"{key[0][-12:]} {key[1]}: accepted {truth[key]}, billed {billed[key]}, parked {parked[key]}",
            )


def dry_run_hours(world: World) -> set[datetime]:
    """The hours an invocation in dry run sealed (a rehearsal, an emergency stop): the seller's old integration bills
    them."""
    return {hour for hour, invocation in world.ledger.sealed_by.items() if world.in_dry_run(invocation)}


def _dry_run_carries_of_live_hours(
    world: World, dry_hours: set[datetime]
) -> Iterator[tuple[MeteringRecord, Placement, list[str]]]:
    """Each leaving buyer's carry a dry run placed in earlier hours whose final hour (the hour before the carry's) was
    sealed live: the carry, its placement, and the statuses of that final hour's own record. Live metering never
    places one in an hour sealed in dry run."""
    for (carry_hour, key), plan in world.ledger.placed.items():
        final = carry_hour - HOUR
        if final in dry_hours or not world.in_dry_run(world.ledger.placed_by.get((carry_hour, key))):
            continue
        own = [e.status for e in world.ledger.peek(final) if e.record.key == key]
        yield world.ledger.carries[carry_hour][key], plan, own


def _placed_from_live_hours(world: World, dry_hours: set[datetime]) -> set[tuple[str, str, datetime]]:
    """Where such carries go as their final hour went (attack 65): billed, unless that hour's own record was answered
    ``dry_run`` (a dry-run step's answer, then go-live: never billed by this stack; attack 67, hidden here before
    attack 71)."""
    placed = set()
    for carry, plan, own in _dry_run_carries_of_live_hours(world, dry_hours):
        if "dry_run" not in own:
            placed |= {(carry.customer, carry.dimension, hour) for hour, _ in plan if hour is not None}
    return placed


def _live_carries_answered_dry_run(world: World, dry_hours: set[datetime]) -> None:
    """Such a carry whose final hour's own record was billed (not answered ``dry_run``) is that live hour's usage:
    billed as that hour is, never answered ``dry_run`` (attack 65). Counting every ``dry_run`` answer as the old
    integration's hid it (attack 71)."""
    for carry, plan, own in _dry_run_carries_of_live_hours(world, dry_hours):
        if not own or "dry_run" in own:
            continue
        for hour, _ in plan:
            for entry in world.ledger.peek(hour) if hour is not None else []:
                if entry.record.key == carry.key and entry.status == "dry_run":
                    world.violation(
                        "a live final hour's carry is billed as its hour",
                        f"{carry.key} carried from {carry.hour - HOUR:%Y-%m-%dT%H} ({own[0]}) into "
                        f"{hour:%Y-%m-%dT%H}: answered dry_run ({entry.record.quantity})",
                    )


def _sent_before_sealed(world: World, key: tuple[str, str, datetime]) -> bool:
    """Marketplace billed the record before its hour was sealed (a leaving buyer's final usage, sent early)."""
    sealed = world.ledger.sealed_at.get(key[2])
    return sealed is not None and world.marketplace.billed[key].at < sealed


def _modes(world: World) -> None:
    """Every hour is kept as sealed in the mode of the invocation that sealed it (what the reconciliation, the flush
    and ``cli redrive`` go by)."""
    dry_hours = dry_run_hours(world)
    for hour in sorted(world.ledger.sealed_by):
        if (hour in dry_hours) != (hour in world.ledger.dry_run_hours):
            world.violation(
                "an hour is kept as sealed in its sealer's mode",
                f"hour {hour:%Y-%m-%dT%H} sealed {'in dry run' if hour in dry_hours else 'live'}, kept as "
                + ("sealed in dry run" if hour in world.ledger.dry_run_hours else "sealed live"),
            )


def ours_billed(world: World) -> list[tuple[tuple[str, str, datetime], Billed]]:
    """What Marketplace billed of our records: not what an outsider billed first (ours came second: DuplicateRecord,
    parked, or the same quantity again: Success, billed once, by whoever sent it first)."""
    billed = [(key, first) for key, first in world.marketplace.billed.items() if key not in world.marketplace.outsider]
    billed += [
        (
            (e.record.customer, e.record.dimension, e.record.hour),
            Billed(e.record.quantity, e.metering_record_id or "", e.at or world.plan.end, _allocations(e.record)),
        )
        for e in world.ledger.stored()
        if e.status == "sent" and (e.record.customer, e.record.dimension, e.record.hour) in world.marketplace.outsider
    ]
    return billed


def _allocations(record: MeteringRecord) -> tuple[tuple[tuple[tuple[str, str], ...], Decimal], ...]:
    return tuple(sorted((a.tags, a.quantity) for a in record.allocations))


_Tagged = dict[tuple[str, str, tuple[tuple[str, str], ...]], Decimal]


def _by_tag_set(
    into: _Tagged, customer: str, dimension: str, quantity: Decimal, allocations: Iterable[Allocation]
) -> None:
    """Units by the tag set they were allocated to; what no allocation names is untagged (``()``)."""
    for allocation in allocations:
        into[(customer, dimension, allocation.tags)] += allocation.quantity
        quantity -= allocation.quantity
    if quantity:
        into[(customer, dimension, ())] += quantity


def _units_per_tag_set(
    world: World,
    stored: list[UsageEvent],
    truth: dict[tuple[str, str], Decimal],
    billed: dict[tuple[str, str], Decimal],
    parked: dict[tuple[str, str], Decimal],
) -> None:
    """Each accepted unit billed (or parked) under the tag set its producer allocated it to, where every unit of the
    customer's dimension is accounted for and none could have been carried (a carry moves units to the untagged
    allocation of another hour, by design)."""
    accepted: _Tagged = defaultdict(Decimal)
    for event in _first_stored(stored).values():
        customer = event.license_arn or event.customer_identifier or ""
        _by_tag_set(accepted, customer, event.dimension, event.quantity, event.allocations)
    accounted: _Tagged = defaultdict(Decimal)
    for (customer, dimension, _), first in ours_billed(world):
        _by_tag_set(accounted, customer, dimension, first.quantity, (Allocation(t, q) for t, q in first.allocations))
    for entry in world.ledger.stored():
        if entry.status in PARKED_STATUSES or entry.status == "dry_run":
            record = entry.record
            _by_tag_set(accounted, record.customer, record.dimension, record.quantity, record.allocations)
    for customer, dimension, tags in sorted(set(accepted) | set(accounted)):
        key = (customer, dimension)
        if truth[key] != billed[key] + parked[key] or truth[key] >= MAX_INTEGER_QUANTITY:
            continue
        if accepted[(customer, dimension, tags)] != accounted[(customer, dimension, tags)]:
            world.violation(
                "every accepted unit is billed exactly once, under the tag set it was allocated to",
                f"{customer[-12:]} {dimension} {dict(tags) or 'untagged'}: accepted "
                f"{accepted[(customer, dimension, tags)]}, billed or parked {accounted[(customer, dimension, tags)]}",
            )


def _content_hour(timestamp: str | None) -> datetime | None:
    return hour_of(datetime.fromisoformat(timestamp.replace("Z", "+00:00"))) if timestamp else None


def _answers(world: World, stored: list[UsageEvent]) -> None:
    first = _first_stored(stored)
    keys = {(e.license_arn or e.customer_identifier): e.customer_key for e in stored}
    for (customer, event_id), answers in sorted(world.observed.answers.items()):
        event = first.get((keys.get(customer, ""), event_id))
        oks = [a for a in answers if a.status in ("accepted", "duplicate")]
        if event is None:
            if oks:
                world.violation("a 200 means billed", f"{event_id}: answered {oks[0].status}, never stored")
            continue
        for answer in oks:
            dimension, quantity, timestamp = answer.content
            hour = _content_hour(timestamp)
            if (dimension, Decimal(quantity)) != (event.dimension, event.quantity) or (
                hour is not None and hour != event.hour
            ):
                world.violation(
                    "a 200 means billed as sent",
                    f"{event_id}: answered {answer.status} to {dimension}={quantity} at {timestamp}, "
                    f"billed as {event.dimension}={event.quantity} at {event.timestamp:%H:%M:%S}",
                )
                break
        as_stored = [
            a
            for a in answers
            if (a.content[0], Decimal(a.content[1])) == (event.dimension, event.quantity)
            and _content_hour(a.content[2]) in (None, event.hour)
        ]
        # the last word the producer had on it: a refusal after which it sent nothing more
        if as_stored and as_stored[-1].status == "refused":
            world.violation(
                "nothing refused is ever billed",
                f"{event_id}: refused at {as_stored[-1].at:%H:%M:%S}, its last answer, yet stored and billed",
            )


def _windows(world: World, stored: list[UsageEvent]) -> None:
    for event in _first_stored(stored).values():
        licence = world.marketplace.licences.get(event.customer_identifier or event.license_arn or "")
        if licence is None or licence.open_at(event.timestamp):
            continue
        before = event.timestamp < licence.started_at
        world.violation(
            "nobody is metered outside their subscription",
            f"{event.event_id} stamped {event.timestamp:%H:%M:%S}, "
            + (
                f"before the licence started at {licence.started_at:%H:%M:%S}: accepted, billed to the buyer"
                if before
                else "outside their subscriptions"
            ),
        )


def _reconciled(world: World) -> None:
    """Every hour with records, settled in time for the schedule's last runs, reconciled once (the flush's mark moved
    past it once), with no difference the world does not explain; every parked record among its findings, and the
    findings counted by the metric the alarm watches."""
    done: dict[datetime, list[list[Finding]]] = defaultdict(list)
    for hour, _, findings in world.observed.reconciled:
        done[hour].append(findings)
    stored = list(world.ledger.stored())
    grace = timedelta(seconds=world.settings.flush_grace_seconds)
    # as far as the schedule's last runs reach: an hour is reconciled by the run after the one that sent it, which a
    # schedule slower than hourly leaves further from the world's end
    scheduled = [a.at for a in world.plan.actions if a.kind == "flush" and a.scheduled]
    slower = max(timedelta(0), world.plan.flush_every - HOUR)
    reach = min(world.plan.end, max(scheduled, default=world.plan.end) + HOUR + FLUSH_TIMEOUT - slower)
    last = hour_of(reach - SETTLED_AFTER - grace) - 2 * HOUR
    explained = {(e.record.customer, e.record.dimension, e.record.hour) for e in stored if _explained(world, e)}
    # live metering (the flush, or a leaving buyer's final-usage step) begins the reconciliation before it sends, at
    # its oldest hour or a day back: every hour with records
    # an hour a dry run sealed holding nothing Marketplace answered has nothing of ours to reconcile: the
    # reconciliation may begin after it (a dry run begins none: seed 2817, attack 70)
    answered = {e.record.hour for e in stored if e.status in MARKETPLACE_ANSWERS}
    dry_hours = world.ledger.dry_run_hours
    for hour in sorted({e.record.hour for e in stored if e.record.hour <= last}):
        runs = done[hour]
        if not runs and hour in dry_hours and hour not in answered:
            continue
        if len(runs) != 1 and not (len(runs) > 1 and hour in world.ledger.reopened):
            world.violation(
                "every closed hour is reconciled, once", f"hour {hour:%Y-%m-%dT%H} was reconciled {len(runs)} times"
            )
            continue
        found = {(f.customer, f.dimension) for f in runs[-1]}  # as the hour stands: a reopened one's last
        late_writes = bool(world.faults.injected.get("write landed late"))
        unexplained = [
            f
            for f in runs[-1]
            if not (f.kind == ACCEPTED_NOT_SEALED and late_writes)
            and not (f.kind == ANSWERED_IN_DRY_RUN and _answered_in_dry_run(world, stored, f))
            and not (f.kind == UNKNOWN_TO_LEDGER and (f.customer, f.dimension, f.hour) in world.marketplace.outsider)
            and (f.kind not in (FAILED, PARKED) or (f.customer, f.dimension, f.hour) not in explained)
        ]
        if unexplained:
            world.violation(
                "reconciliation finds no unexplained difference",
                f"hour {hour:%Y-%m-%dT%H}: " + "; ".join(f"{f.kind}: {f.detail}" for f in unexplained),
            )
        # of an hour sealed in dry run, only what Marketplace answered is ours to report (the dry run's parked
        # records are the other integration's to bill: functions.flush.audit.live_in_hour)
        for entry in stored:
            parked = entry.record.hour == hour and entry.status in PARKED_STATUSES
            if hour in dry_hours and entry.status not in MARKETPLACE_ANSWERS:
                continue
            if parked and (entry.record.customer, entry.record.dimension) not in found:
                world.violation(
                    "a parked record is counted by a metric",
                    f"{entry.record.key} of {hour:%Y-%m-%dT%H} ({entry.reason or entry.status}): not among its hour's "
                    "findings",
                )
    # each hour as it last stood: a reconciliation is observed as the ledger stands when its mark moves, which may
    # include a record a concurrent final usage wrote after the run read the hour (seed 265464); that write moves the
    # mark back, and the hour's next reconciliation reads and counts it
    # (an hour never reconciled has no run: a violation above, never a crash of the check here)
    differences = sum(len(runs[-1]) for runs in done.values() if runs)
    if world.observed.metrics["ReconciliationMismatches"] < differences:
        world.violation(
            "a parked record is counted by a metric",
            f"the reconciliation found {differences} differences, ReconciliationMismatches counted "
            f"{world.observed.metrics['ReconciliationMismatches']}",
        )


def _answered_in_dry_run(world: World, stored: list[MeteringEntry], finding: Finding) -> bool:
    """A record of an hour sealed live answered ``dry_run`` by a dry run (a leaving buyer's final usage sent in the
    rehearsal, before the stack went live and the flush sealed its hour): reported by design, never billed by this
    stack."""
    return any(
        (e.record.customer, e.record.dimension, e.record.hour) == (finding.customer, finding.dimension, finding.hour)
        and e.status == "dry_run"
        and world.in_dry_run(world.ledger.answered_by.get((e.record.hour, e.record.key)))
        for e in stored
    )


def _nobody_ending(world: World) -> None:
    for customer in world.customers_store.list_all():
        if customer.state is SubscriptionState.ENDING:
            world.violation("no buyer stays ending", f"{customer.ref.key[-12:]} is still ending at the end")


def _state_as_marketplace_holds_it(world: World) -> None:
    """Once every notification is in, a buyer Marketplace holds subscribed is active (their usage is not refused),
    and one it ended is ended, not before they left (a legacy identifier's earlier subscription's end is not theirs)."""
    for customer in world.customers_store.list_all():
        licence = world.marketplace.licences.get(customer.ref.license_arn or customer.ref.customer_identifier or "")
        if licence is None or not licence.windows:
            continue
        _, closes = licence.windows[-1]
        name = customer.ref.key[-12:]
        if closes is None and customer.state is not SubscriptionState.ACTIVE:
            world.violation(
                "a buyer's state is Marketplace's",
                f"{name} is {customer.state} while Marketplace holds them subscribed",
            )
        elif closes is not None and customer.state is SubscriptionState.ENDED:
            left = closes - FINAL_HOUR
            ended = customer.state_changed_at
            if ended is not None and ended < left:
                world.violation(
                    "a buyer's state is Marketplace's",
                    f"{name} ended at {ended:%H:%M:%S}, before they left ({left:%H:%M:%S})",
                )
            elif ended is not None and (close := _own_close(world, licence.license_arn, left, ended)) is not None:
                world.violation(
                    "a buyer's state is Marketplace's",
                    f"{name} ended at {ended:%H:%M:%S.%f}"[:-3] + f", before their leave's close ({close:%H:%M:%S})",
                )


def _own_close(world: World, customer: str, left: datetime, ended: datetime) -> datetime | None:
    """The close of a buyer's leave at ``left`` (its own closing message, or the final hour's end that the final-usage
    step stamps, whichever is first) when they read ended before it; None when not. An earlier leave's success more
    than ``ABOUT_AN_HOUR`` off its hour, coming after this leave, ends them by design (docs/metering.md rule 5: read as
    this leave's quick success, the earlier one's lost)."""
    plan = world.plan
    leaving = [b for b in plan.buyers if b.customer == customer and b.leaves is not None]
    own = [b for b in leaving if b.leaves == left]
    if not own:
        return None
    close = left + timedelta(seconds=min(plan.closes_after(own[0].n), FINAL_HOUR.total_seconds()))
    if ended >= close - STAMPED_TO:
        return None
    for earlier in leaving:
        assert earlier.leaves is not None
        off = timedelta(seconds=plan.closes_after(earlier.n)) - FINAL_HOUR
        stamp = earlier.leaves + FINAL_HOUR + off
        if earlier.leaves < left and abs(off) > ABOUT_AN_HOUR and abs(ended - stamp) <= STAMPED_TO:
            return None
    return close
