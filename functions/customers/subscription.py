"""The subscription state machine, as a function of the events seen so far rather than of their order.

Lifecycle notifications arrive duplicated and out of order. Instead of applying transitions one by one
(where the arrival order decides the outcome), each subject an event names (an agreement, a licence, a legacy
customer identifier) keeps the latest event time seen per kind of event; merging is a per-kind maximum, which is
commutative and idempotent, and a buyer's state is derived from the times of the subjects that name them
(``buyer_times``). So duplicates change nothing, every ordering of the same events ends in the same state, and an
old event never undoes a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from functions.customers.model import FINAL_USAGE_WINDOW, SubscriptionState

# A leave's close (unsubscribe-success, about an hour after its pending; our final-usage step's end, an hour after the
# final hour opened) comes within this after the leave it closes; one later is a leave of its own (its opening lost,
# or recorded on another subject).
CLOSES_WITHIN = timedelta(hours=2)
# AWS publishes a leave's unsubscribe-success about an hour after its unsubscribe-pending (marketplace-api.md), each
# stamped to the millisecond: a success this near a pending's hour is that pending's close (``_closes``)
ABOUT_AN_HOUR = timedelta(minutes=10)


class LifecycleKind(StrEnum):
    ACTIVATED = "activated"  # subscribe-success, Purchase Agreement Created, License Updated
    ENDING = "ending"  # unsubscribe-pending, Purchase Agreement Ended, License Deprovisioned
    ENDED = "ended"  # unsubscribe-success; the final hour over (recorded by the final-usage step)
    FAILED = "failed"  # subscribe-fail


@dataclass(frozen=True)
class LifecycleTimes:
    """Latest event time seen per kind; ``None`` where no such event was seen."""

    activated: datetime | None = None
    ending: datetime | None = None
    ended: datetime | None = None
    failed: datetime | None = None
    # every activation seen (kept as a set: merged by union, so every order ends the same)
    activations: frozenset[datetime] = frozenset()
    # every ending and every ended seen (sets, as activations are): a reused legacy identifier's earlier leaves, which
    # the latest times alone lose once the buyer leaves again
    ending_times: frozenset[datetime] = frozenset()
    ended_times: frozenset[datetime] = frozenset()
    # a buyer's, derived (buyer_times): when their current subscription started (usage before it is not theirs)
    started: datetime | None = None
    # a buyer's, derived, where that start is unheard though they left that subscription (``_unheard_start``): it came
    # after ``started_after`` (their leave of the subscription before) and by ``started_by`` (their leave of this one)
    started_after: datetime | None = None
    started_by: datetime | None = None
    # a buyer's, derived (``_earlier_terms``): each subscription of theirs before the current one, from its start to
    # when Marketplace stopped taking its records: usage stamped in one is theirs, billed late (a buyer back on the same
    # licence or identifier)
    earlier_terms: tuple[tuple[datetime, datetime], ...] = ()
    # an agreement's: when a License Deprovisioned named it (``agreement.id``), so its licence's ending at that time is
    # known to close this agreement (``_closes_a_left_agreement``)
    deprovisioned_times: frozenset[datetime] = frozenset()
    # an agreement's: its start as its Purchase Agreement Created said (``agreement.startTime``; a future-dated one is
    # created when accepted and holds the licence from then)
    starts_at: datetime | None = None

    def merge(self, kind: LifecycleKind, at: datetime) -> LifecycleTimes:
        merged = self
        if kind is LifecycleKind.ACTIVATED and at not in self.activations:
            merged = replace(merged, activations=self.activations | {at})
        if kind is LifecycleKind.ENDING and at not in self.ending_times:
            merged = replace(merged, ending_times=self.ending_times | {at})
        if kind is LifecycleKind.ENDED and at not in self.ended_times:
            merged = replace(merged, ended_times=self.ended_times | {at})
        current: datetime | None = getattr(self, kind.value)
        if current is not None and current >= at:
            return merged
        if kind is LifecycleKind.ACTIVATED:
            return replace(merged, activated=at)
        if kind is LifecycleKind.ENDING:
            return replace(merged, ending=at)
        if kind is LifecycleKind.ENDED:
            return replace(merged, ended=at)
        return replace(merged, failed=at)

    def current(self, at: datetime | None) -> bool:
        """An end not older than the latest activation belongs to the current subscription; an activation newer
        than it is a re-subscription (legacy customer identifiers are reused)."""
        return at is not None and (self.activated is None or at >= self.activated)

    @property
    def state(self) -> SubscriptionState:
        if self.current(self.ended):
            return SubscriptionState.ENDED
        if self.current(self.ending):
            return SubscriptionState.ENDING
        if self.failed is not None and (self.activated is None or self.failed > self.activated):
            return SubscriptionState.FAILED
        if self.activated is not None:
            return SubscriptionState.ACTIVE
        return SubscriptionState.PENDING

    @property
    def changed_at(self) -> datetime | None:
        """Time of the event that decided the current state (for ``ending``: when the final hour began)."""
        return {
            SubscriptionState.ENDED: self.ended,
            SubscriptionState.ENDING: self.ending,
            SubscriptionState.FAILED: self.failed,
            SubscriptionState.ACTIVE: self.activated,
            SubscriptionState.PENDING: None,
        }[self.state]


def buyer_times(
    licence: LifecycleTimes | None,
    agreements: Mapping[str, LifecycleTimes],
    legacy: LifecycleTimes | None,
    linked: Mapping[str, datetime] | None = None,
) -> LifecycleTimes:
    """One buyer's lifecycle from the subjects naming them: their licence, every agreement linked to it (the
    registration's, those License events name, renewals of them) and, for a legacy product, their identifier.

    - Any activation activates: subscribe-success, Purchase Agreement Created, License Updated.
    - The final hour opens at the first of: a License Deprovisioned of this subscription (unless it closes a left
      agreement while the buyer is back on another: ``_closes_a_left_agreement``); the Purchase Agreement Ended of
      the agreements holding the licence (``_holds_at``: a renewal's replaced agreement ends while its successor
      lives on, and a future-dated one not started holds nothing); unsubscribe-pending. AWS's sources disagree on
      which of Ended and Deprovisioned comes first: whichever does opens it.
    - It closes (``ended``) at unsubscribe-success (this subscription's: ``_legacy_end``), at a License Deprovisioned
      that follows the Ended which opened it (the seller guide's order), or when the final-usage step records that the
      final hour of a leave still read so has passed (EventBridge sends nothing after a Deprovisioned that came
      first): so no buyer stays ``ending`` for ever.
    """
    subjects = [t for t in (licence, *agreements.values(), legacy) if t is not None]
    view = LifecycleTimes(activated=max((t.activated for t in subjects if t.activated), default=None))
    # the buyer's agreements still holding the licence when the last Ended came: one another took it from by then is
    # left (a renewal's replaced agreement; one left before the buyer came back, its own Ended still to come: attack 52)
    last_ended = max((a.ending for a in agreements.values() if a.ending), default=None)
    licence = licence or LifecycleTimes()
    legacy = legacy or LifecycleTimes()
    stamps = licence.ended_times | legacy.ended_times
    close = _leave_close(last_ended, agreements, stamps) if last_ended else None
    live = [a for i, a in agreements.items() if _holds(a, agreements, last_ended, close, (linked or {}).get(i))]
    all_ended = bool(live) and all(a.ending is not None for a in live)
    agreements_end = max((a.ending for a in live if a.ending), default=None) if all_ended else None
    # each Deprovisioned of this subscription, not only the licence's latest: a left agreement's close coming after the
    # buyer's leave of the new one must not hide that leave (attack 51). ``ending_times`` holds the latest too (merge)
    deprovisioned = min(
        (at for at in licence.ending_times if view.current(at) and not _closes_a_left_agreement(at, agreements)),
        default=None,
    )
    opened = [at for at in (deprovisioned, agreements_end, legacy.ending) if at and view.current(at)]
    # the final-usage step's end of a leave before the buyer came back is that leave's close (attack 52)
    left_before = {at for t in subjects for at in t.ending_times if not view.current(at)}
    legacy_end = _legacy_end(legacy, view, {at + FINAL_USAGE_WINDOW for at in left_before})
    closed = [legacy_end] if legacy_end and view.current(legacy_end) else []
    if view.current(agreements_end) and deprovisioned and agreements_end and deprovisioned > agreements_end:
        closed.append(deprovisioned)  # not a left agreement's close: that one closes nothing of theirs (attack 46)
    ending = min(opened, default=None)
    # the final hour is over an hour after it opened, as the final-usage step records it (a licence's only ends): an
    # end stamped so after a leave of this subscription ends them whatever else its subject saw (no buyer stays ending
    # for ever); one stamped after a leave read otherwise since (a left agreement's close, a leave before the buyer came
    # back within its hour) ends nothing (simulator seed 248)
    closed += [at + FINAL_USAGE_WINDOW for at in opened if at + FINAL_USAGE_WINDOW in stamps]
    unheard = _unheard_start(legacy, view)
    ends = (*_own_leaves(licence, agreements), *_leaves(legacy), agreements_end)
    started = None if unheard else _started(subjects, ends, view)
    closes = _closes_of(ends, agreements, _own_ends(licence) | _own_ends(legacy))
    return replace(
        view,
        ending=ending,
        ended=min(closed, default=None),
        failed=legacy.failed,
        started=started,
        started_after=unheard[0] if unheard else None,
        started_by=unheard[1] if unheard else None,
        earlier_terms=_earlier_terms(subjects, closes, unheard[1] if unheard else started),
    )


def _closes_a_left_agreement(deprovisioned: datetime | None, agreements: Mapping[str, LifecycleTimes]) -> bool:
    """A License Deprovisioned that names an agreement another of the buyer's took the licence from by then closes
    that agreement, not the buyer's subscription: they are back on the licence under the newer one (attack 44), now or
    once they leave it too (attack 45). One naming the agreement holding the licence is the buyer's leave, in either
    of AWS's orders.

    A Deprovisioned kept before the agreement it names was (or naming one we know no start of) is told by its time:
    within ``CLOSES_WITHIN`` after an agreement's Ended, with an agreement on the licence taken out between the two, it
    is the left agreement's close (the seller guide's order); were it the new agreement's own leave in the other order
    (Deprovisioned first), it reads as a close until that agreement's Ended, when it comes, opens the hour."""
    if deprovisioned is None:
        return False
    named = [a for a in agreements.values() if deprovisioned in a.deprovisioned_times and a.activations]
    if named:
        return all(_taken_from(a, agreements.values(), deprovisioned) for a in named)
    taken = [at for a in agreements.values() for at in a.activations]
    left = [a.ending for a in agreements.values() if a.ending and a.ending < deprovisioned <= a.ending + CLOSES_WITHIN]
    return any(ended < at <= deprovisioned for ended in left for at in taken)


def _holds(
    agreement: LifecycleTimes,
    agreements: Mapping[str, LifecycleTimes],
    at: datetime | None,
    close: datetime | None,
    linked_at: datetime | None,
) -> bool:
    """The agreement holds the licence when the last Ended came (``_holds_at``). One nothing was heard of (only a
    registration linked it: the buyer's agreement now) holds it, a renewal whose events are late, unless the buyer
    registered with it only after the leave that Ended opened was closed (``close``): then they left and came back
    under it, and are back on the licence when its events say so (simulator seed 73501: the closed leave read as open
    again, and usage from the gap between the two subscriptions taken as the old one's final usage). Registered before
    the close, they came back within the final hour (attack 59), or renewed; when that registration came is not known
    (stored by an earlier version), it holds. It never counts as having taken the licence from the one they left: the
    registration says nothing of when the agreement starts, or whether it is cancelled before its events come (attack
    63: a cancelled or future-dated renewal registered with kept a leaving buyer meterable), so the left agreement's
    close reads as their leave until those events say otherwise."""
    if _nothing_heard(agreement):
        return close is None or linked_at is None or linked_at < close
    return _holds_at(agreement, agreements.values(), at)


def _nothing_heard(agreement: LifecycleTimes) -> bool:
    return not (agreement.activations or agreement.ending_times or agreement.deprovisioned_times)


def _holds_at(agreement: LifecycleTimes, agreements: Iterable[LifecycleTimes], at: datetime | None) -> bool:
    """The agreement holds the licence at ``at``: it took it by then (a future-dated renewal not started yet holds
    nothing, and its lack of an Ended keeps no leave from opening the hour: attack 54) and no other took it from it
    since. One with no activation heard holds it (its start unknown; attack 59: holding it only from the first thing
    heard of it ended a renewal left soon after, its events late, at the replaced agreement's Ended)."""
    if at is None:
        return True
    took = not agreement.activations or any(hold <= at for hold in _holds_licence_from(agreement))
    return took and not _taken_from(agreement, agreements, at)


def _leave_close(
    ended: datetime, agreements: Mapping[str, LifecycleTimes], stamps: frozenset[datetime]
) -> datetime | None:
    """When the leave an agreement's Ended at ``ended`` opened was closed: a License Deprovisioned naming that agreement
    since (a renewal never deprovisions the licence), or the final-usage step's end of its final hour; None if not."""
    closes = [d for a in agreements.values() if a.ending == ended for d in a.deprovisioned_times if d >= ended]
    if ended + FINAL_USAGE_WINDOW in stamps:
        closes.append(ended + FINAL_USAGE_WINDOW)
    return min(closes, default=None)


def _taken_from(agreement: LifecycleTimes, agreements: Iterable[LifecycleTimes], by: datetime | None) -> bool:
    """Another of the buyer's agreements took the licence after this one did, no later than ``by``."""
    took = max(_holds_licence_from(agreement), default=None)
    if took is None or by is None:
        return False
    return any(took < at <= by for other in agreements if other is not agreement for at in _holds_licence_from(other))


def _holds_licence_from(agreement: LifecycleTimes) -> set[datetime]:
    """When an agreement took the licence: each activation (its Created, a License Updated naming it), none before its
    start (a future-dated renewal, accepted now, holds it only from then: attack 51), and none after its Ended (one
    cancelled before it started never held it: attack 53)."""
    start, ended = agreement.starts_at, agreement.ending
    holds = {at if start is None else max(at, start) for at in agreement.activations}
    return {at for at in holds if ended is None or at <= ended}


def _leaves(times: LifecycleTimes) -> set[datetime]:
    """When each subscription of a subject (a legacy identifier, a licence: both reused by a buyer back) was left: each
    ending (unsubscribe-pending, License Deprovisioned). An ended is that leave's close and may come after the buyer is
    back (attack 41: a later activation then took it for an end of the subscription they came back to); it is a leave
    of its own only with no ending ``CLOSES_WITHIN`` before it (attack 42: one much later, its leave recorded only by
    the final-usage step's end)."""
    return set(times.ending_times) | _own_ends(times)


def _own_leaves(licence: LifecycleTimes, agreements: Mapping[str, LifecycleTimes]) -> set[datetime]:
    """The licence's leaves (``_leaves``) but a left agreement's close, which ends nothing of the buyer's: counted, it
    moved a buyer back on their licence to start at their next activation, refusing their subscription's late usage
    from before it (attack 58)."""
    return {at for at in _leaves(licence) if not _closes_a_left_agreement(at, agreements)}


def _own_ends(times: LifecycleTimes) -> set[datetime]:
    """Ends that close no leave: no ending ``CLOSES_WITHIN`` before them (an end within it, even one another end of
    that leave was paired with first, is that leave's: attack 46's late success after the final-usage step's end)."""
    return {e for e in times.ended_times if not any(e - CLOSES_WITHIN <= p <= e for p in times.ending_times)}


def _legacy_end(legacy: LifecycleTimes, view: LifecycleTimes, stale: set[datetime]) -> datetime | None:
    """A legacy unsubscribe-success ends the subscription whose unsubscribe-pending it closes (``_closes``): the close
    of this subscription's latest pending (one from before the buyer came back is the earlier subscription's, and so
    is its close, late or not). With that pending not yet closed, or no pending of this subscription at all, an end
    closing no leave does (``_own_ends``): a success whose pending was lost, the final-usage step's end of a leave told
    on another subject (attack 45: the identifier's history hid both); not one ``stale``, the step's end of a leave
    before the buyer came back (attack 52)."""
    closes = _closes(legacy.ending_times, legacy.ended_times, legacy.activations)
    pending = legacy.ending if view.current(legacy.ending) else None
    if pending is not None and pending in closes:
        return closes[pending]
    since = pending or view.activated
    return min((e for e in _own_ends(legacy) - stale if since is None or e >= since), default=None)


def _closes(
    pendings: frozenset[datetime], successes: frozenset[datetime], activations: frozenset[datetime]
) -> dict[datetime, datetime]:
    """Which success closes which pending. Each leave sends its pending and then, about an hour later (AWS's SaaS
    guide promises nothing tighter), its success, so leaves close in the order they were left. First the successes, in
    time order, each close the earliest pending still open whose hour they are within ``ABOUT_AN_HOUR`` of: as many
    pendings as can be are closed, the earliest first, so one left open is a later one, its success to come. So a
    success between two leaves' hours, near both, closes the earlier (simulator seed 701627: taken for the nearer,
    later leave's, it ended the buyer before their own leave's close); were it the later leave's, early, the earlier's
    lost or late, that leave stays open until its own success or, at the latest, the final-usage step's end at its
    hour. Then each pending so closed takes the nearest of the successes near its hour that no other took: the
    final-usage step's stamp, exactly on the hour, before AWS's own, a moment or minutes off it (attack 72); its own
    success before an earlier leave's more than ``ABOUT_AN_HOUR`` late that came first.
    Then each success left closes the earliest pending still open ``CLOSES_WITHIN`` before it, but not one the buyer
    came back from before the success (``_came_back_between``). Nearness alone paired wrongly both ways (attacks 42
    and 44: a buyer back and leaving again within the first final hour, a success 25 minutes after its pending)."""
    closes: dict[datetime, datetime] = {}
    for success in sorted(successes):
        near = [p for p in pendings if p not in closes and _off_its_hour(success, p) <= ABOUT_AN_HOUR]
        if near:
            closes[min(near)] = success
    for pending in sorted(closes):
        taken = set(closes.values()) - {closes[pending]}
        spare = [s for s in successes if s not in taken and _off_its_hour(s, pending) <= ABOUT_AN_HOUR]
        closes[pending] = min(spare, key=lambda s: _off_its_hour(s, pending))
    # a success near some pending's hour that no pending kept is that leave's, a nearer one taken instead: it closes
    # no other (attack 78: freed by the step above, it ended a buyer's latest leave 57 minutes before its close)
    far = {s for s in successes if all(_off_its_hour(s, p) > ABOUT_AN_HOUR for p in pendings)}
    for success in sorted(far - set(closes.values())):
        open_before = [
            p
            for p in pendings
            if p not in closes
            and success - CLOSES_WITHIN <= p <= success
            and not _came_back_between(p, success, activations)
        ]
        if open_before:
            closes[min(open_before)] = success
    return closes


def _off_its_hour(success: datetime, pending: datetime) -> timedelta:
    return abs(success - pending - FINAL_USAGE_WINDOW)


def _came_back_between(pending: datetime, success: datetime, activations: frozenset[datetime]) -> bool:
    """The buyer subscribed again after the pending and by the success. Such a success, far from that pending's hour
    (``ABOUT_AN_HOUR``), is one of the subscription they came back to, left since: its quick close (attack 45: taken
    for the earlier leave's, whose own success was lost, it left the latest pending open and the buyer meterable after
    Marketplace stopped taking their records: usage answered 200 and never billed). So the earlier leave's success,
    later than that, ends the later leave at once: its usage is refused, not taken unbilled (docs/metering.md
    rule 5)."""
    return any(pending < at <= success for at in activations)


def _unheard_start(legacy: LifecycleTimes, view: LifecycleTimes) -> tuple[datetime, datetime] | None:
    """Where a legacy identifier's latest leave is not one of the subscription of the latest activation heard, the
    start of the subscription it leaves is unheard: (after, by) it, else None. A subscription sends one
    unsubscribe-pending, so two since that activation (or with none heard) are two subscriptions' leaves: the buyer
    came back between them, that subscribe-success still on its way (SNS does not order messages). The subscription
    started after the pending before (the boundary ``_started`` reads once the activation comes) and by its own. Read
    as the earlier activation's, the gap between the two was theirs, its usage billed (attack 74). Pendings only: an
    end closing no pending may be a late close of a leave before that activation (simulator seed 189228)."""
    pendings = sorted(at for at in legacy.ending_times if view.current(at))
    return (pendings[-2], pendings[-1]) if len(pendings) > 1 else None


def _earlier_terms(
    subjects: list[LifecycleTimes], closes: Mapping[datetime, datetime], current: datetime | None
) -> tuple[tuple[datetime, datetime], ...]:
    """The buyer's subscriptions before the one started at (or, its start unheard, left at) ``current``: each from its
    first activation after the leave before it to when Marketplace stopped taking its records (``closes``: each leave
    as it opened its final hour, with that close; a second leave of one subscription, a close heard as a leave, starts
    nothing). A buyer back on their licence or identifier owes their earlier subscription's late usage (simulator
    invariant 8: refused as before the subscription they came back to, it was revenue lost)."""
    if current is None:
        return ()
    activations = sorted({at for t in subjects for at in t.activations})
    terms: list[tuple[datetime, datetime]] = []
    previous: datetime | None = None
    for leave in sorted(at for at in closes if at < current):
        start = next((at for at in activations if (previous is None or at > previous) and at <= leave), None)
        if start is not None:
            terms.append((start, closes[leave]))
        previous = leave
    return tuple(terms)


def _closes_of(
    leaves: Iterable[datetime | None], agreements: Mapping[str, LifecycleTimes], own_ends: set[datetime]
) -> dict[datetime, datetime]:
    """Each leave (the leaves ``_started`` reads) as it opened its final hour, with when Marketplace stopped taking its
    records: an hour on. A License Deprovisioned naming an agreement that Ended before it closes the hour that Ended
    opened (the seller guide's order), so that Ended is the leave (read as the leave itself, it stretched an earlier
    subscription an hour past Marketplace's close: attack 76); an end closing no leave (a success whose pending was
    never recorded) is the close itself of a leave about an hour before it (attack 76: read as a leave, it ran the
    subscription an hour past it)."""
    closes: dict[datetime, datetime] = {}
    for at in leaves:
        if at is None:
            continue
        if at in own_ends:
            # a lone end closes the leave about an hour before it: read at that leave, a return within its hour
            # (before the end) starts the next subscription (attack 80: read at the end, that subscription was dropped)
            opened, close = at - FINAL_USAGE_WINDOW, at
        else:
            named = [a.ending for a in agreements.values() if at in a.deprovisioned_times and a.ending]
            opened = min((ended for ended in named if ended <= at), default=at)
            close = opened + FINAL_USAGE_WINDOW
        closes[opened] = min(close, closes.get(opened, close))
    return closes


def _started(
    subjects: list[LifecycleTimes], ends: tuple[datetime | None, ...], view: LifecycleTimes
) -> datetime | None:
    """When the current subscription started: its first activation after the buyer's last end before it (a legacy
    customer identifier is reused when the buyer subscribes again: each of its ends counts, not only the latest, or a
    buyer leaving a second time would seem to have subscribed when they first did (simulator seed 189228); a
    renewal's agreement ending is no end)."""
    previous = max((e for e in ends if e and view.activated and e < view.activated), default=None)
    activations = [a for t in subjects for a in t.activations if previous is None or a > previous]
    return min(activations, default=None)
