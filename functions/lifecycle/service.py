"""What a lifecycle notification does: keep its time and links, then act on the state it leaves each buyer in.

Every follow-up is derived from the state after the event, never from the event alone, so a duplicate or a late
old event cannot undo anything, and each is safe to repeat: the final-usage cutoff only ever moves earlier for one
ending, the final usage's records are identical on every run, and announcements are remembered per lifecycle time.

What AWS tells the seller besides (an advisory, a reminder, the seller's own cancellation requests and refunds) is
kept as a notice of its agreement for the operator's views; an advisory is published to the seller's systems too, and
an advisory issued or a refund that failed is counted for its alarm. An agreement event that names no registered
buyer asks GetAgreementEntitlements for its licence, so a buyer who registers later (or whose registration named no
agreement) is linked to it at once.

A leaving buyer's end runs on a timer (a delayed message to the lifecycle queue, ``continue_ending``): their usage
is taken until the cutoff, sent once writes in flight at the cutoff have landed, and once their final hour has
passed they are recorded ``ended``, so nobody stays ``ending`` for ever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from functions.clock import Clock
from functions.customers.model import (
    FINAL_SEND,
    FINAL_USAGE_WINDOW,
    FUTURE_SKEW,
    IN_FLIGHT_MARGIN,
    LEAVING_STATES,
    Customer,
    CustomerRef,
    SubscriptionState,
)
from functions.customers.notices import AgreementNotice, NoticeKind, notice_key
from functions.customers.subjects import (
    BuyerLifecycle,
    FreeTrialWord,
    LifecycleStore,
    agreement_subject,
    licence_id,
    licence_subject,
    primary_subject,
)
from functions.customers.subscription import LifecycleKind, LifecycleTimes
from functions.lifecycle.agreement_entitlements import AgreementEntitlementReader, AgreementEntitlementsUnavailable
from functions.lifecycle.entitlements import EntitlementReader
from functions.lifecycle.notifications import ENTITLEMENT_UPDATED, LifecycleEvent
from functions.observability import logger, metrics
from functions.seller_events import (
    CUSTOMER_ACTIVATED,
    CUSTOMER_ADVISORY_ISSUED,
    CUSTOMER_ADVISORY_RESOLVED,
    CUSTOMER_ENDED,
    EventPublisher,
    identified,
)
from functions.settings import FINAL_USAGE_REQUESTS_EVERY_MINUTES, Product, Settings
from functions.usage.model import first_hour_after_final_usage

__all__ = [
    "CUSTOMER_ACTIVATED",
    "CUSTOMER_ADVISORY_ISSUED",
    "CUSTOMER_ADVISORY_RESOLVED",
    "CUSTOMER_ENDED",
    "Lifecycle",
]

# What a notice counts (the alarmed ones first: an advisory issued, a refund that failed), by kind and status.
NOTICE_METRICS = {
    (NoticeKind.ADVISORY, "ISSUED"): "AgreementAdvisoriesIssued",
    (NoticeKind.BILLING_ADJUSTMENT, "FAILED"): "BillingAdjustmentsFailed",
    (NoticeKind.ADVISORY, "RESOLVED"): "AgreementAdvisoriesResolved",
    (NoticeKind.BILLING_ADJUSTMENT, "COMPLETED"): "BillingAdjustmentsCompleted",
    (NoticeKind.CANCELLATION_REQUEST, "APPROVED"): "CancellationRequestsApproved",
}


class LifecycleCustomers(Protocol):
    def get(self, ref: CustomerRef) -> Customer | None: ...

    def of_account(self, account_id: str, product_code: str | None = None) -> list[Customer]: ...

    def lifecycle(self, customer: Customer) -> BuyerLifecycle: ...

    def set_final_usage_cutoff(self, ref: CustomerRef, cutoff: datetime, own_from: datetime) -> bool: ...

    def mark_final_usage_sent(self, ref: CustomerRef, cutoff: datetime) -> bool: ...

    def mark_announced(self, ref: CustomerRef, attribute: str, at: datetime) -> bool: ...

    def set_entitlements(self, ref: CustomerRef, entitlements: tuple[dict[str, object], ...]) -> bool: ...


class FinalUsage(Protocol):
    def schedule(self, ref: CustomerRef, delay_seconds: float) -> None:
        """Run ``continue_ending`` for ``ref`` after the delay (at most the queue's longest, 15 minutes)."""
        ...

    def send(self, customer: Customer, out_of_time: Callable[[], bool]) -> None:
        """Seal and send every unsent hour of this customer's usage (idempotent)."""
        ...


class OtherRegions(Protocol):
    def ask(self, ref: CustomerRef, at: datetime) -> None:
        """Ask every other metering Region (cdk.json ``regions``) to send this leaving buyer's usage there now."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What handling one notification or timer did."""

    status: str  # applied | ignored | waiting | reactivated | ended
    customers: tuple[str, ...] = ()  # CustomerRef keys the event was applied to (registered buyers)


def _says_free_trial(event: LifecycleEvent) -> bool:
    """A legacy subscribe-success: its isFreeTrialTermPresent is Marketplace's word on the subscription it starts.
    Other messages of a customer identifier (reused when the buyer subscribes again) may describe an earlier
    subscription. A "false" undoes a confirmation only when it is newer (a later, paid subscription), never when an
    older message arrives late: SNS delivers out of order."""
    return event.kind is LifecycleKind.ACTIVATED and event.customer_identifier is not None


def _final_hour_opened(times: LifecycleTimes, now: datetime) -> datetime:
    """When a leaving buyer's final hour opened, as their cutoff and their final usage's timing both read it."""
    return times.ending or times.ended or now


@dataclass
class Lifecycle:
    """The lifecycle's rules: a notification applied to the buyers it names, and a leaving buyer's final usage."""

    settings: Settings
    events: LifecycleStore
    customers: LifecycleCustomers
    entitlements: EntitlementReader
    publisher: EventPublisher
    final_usage: FinalUsage
    clock: Clock
    # an agreement's licence and its status, asked for an agreement event that names no registered buyer
    agreement_entitlements: AgreementEntitlementReader
    # where a buyer's usage may also be metered (their stacks answer on a schedule); None: this Region only
    other_regions: OtherRegions | None = None

    def handle(self, event: LifecycleEvent) -> Outcome:
        product = self._product(event)
        if event.unfamiliar:
            # a type AWS added after this code was written: heard, logged and counted (alarmed), never dropped unseen
            logger.warning("unknown AWS Marketplace event", notification=event.name, event_id=event.event_id)
            metrics.add_metric(name="UnknownMarketplaceEvents", unit="Count", value=1)
        if not event.known or (product is None and not event.names_agreement_only):
            # acknowledged, not retried: nothing we could do with it later either
            logger.info(
                "lifecycle notification ignored",
                notification=event.name,
                product_code=event.product_code,
                reason="unknown product" if event.known else "unknown notification",
            )
            metrics.add_metric(name="LifecycleNotificationsIgnored", unit="Count", value=1)
            return Outcome("ignored")
        if event.deprovisions_agreement:
            # before the licence's ending, which reads by it: a retry after a crash in between records both
            assert event.agreement_id is not None
            self.events.record_deprovision(agreement_subject(event.agreement_id), event.occurred_at)
        if event.licence_id is not None and event.agreement_id is not None and event.kind is LifecycleKind.ACTIVATED:
            # the licence held this agreement from then: a buyer back on their licence under a new agreement is seen
            # to have taken it after the one they left though its Purchase Agreement Created comes later (or never)
            self.events.record(agreement_subject(event.agreement_id), LifecycleKind.ACTIVATED, event.occurred_at)
        if event.kind is not None and event.subject is not None:
            self.events.record(event.subject, event.kind, event.occurred_at)
            if _says_free_trial(event) and event.free_trial_term is not None:
                # kept with the subject, like its times: it applies when the buyer registers later, as often happens
                word = FreeTrialWord(event.free_trial_term, event.occurred_at)
                if self.events.record_free_trial_term(event.subject, word) and word.free_trial:
                    metrics.add_metric(name="FreeTrialsConfirmedByLegacyNotification", unit="Count", value=1)
        if event.agreement_starts_at is not None and event.agreement_id is not None:
            self.events.record_start(agreement_subject(event.agreement_id), event.agreement_starts_at)
        self._link(event)
        named = self._customers_named(event, product)
        if not named and event.names_agreement_only and event.kind is not None and self._look_up_licence(event):
            named = self._customers_named(event, product)  # a registered buyer it now links to (their licence's)
        if not named:
            logger.info("event for no registered buyer yet: applies once linked", notification=event.name)
        if event.notice is not None:
            self._note(event, event.notice, [c for c, _ in named])
        for customer, lifecycle in named:
            self._follow_up(customer, lifecycle, event)
        return Outcome("applied", tuple(c.ref.key for c, _ in named))

    def _look_up_licence(self, event: LifecycleEvent) -> bool:
        """The agreement's licence from GetAgreementEntitlements, linked to it (with its status kept as a notice):
        True if one was. A failure here costs nothing the licence's own event or the registration would not link."""
        assert event.agreement_id is not None
        try:
            entitlements = self.agreement_entitlements.of(event.agreement_id)
        except AgreementEntitlementsUnavailable as error:
            logger.warning("agreement entitlements unavailable", agreement_id=event.agreement_id, error=str(error))
            metrics.add_metric(name="AgreementEntitlementsUnavailable", unit="Count", value=1)
            return False
        linked = False
        for entitlement in entitlements:
            licence = licence_id(entitlement.licence_arn)
            if licence is not None:
                self.events.link(licence_subject(licence), event.agreement_id)
                linked = True
            details = {
                "licence_arn": entitlement.licence_arn,
                "reason_code": entitlement.reason,
                "product_id": entitlement.product_id,
            }
            self.events.record_notice(
                AgreementNotice(
                    event.agreement_id,
                    NoticeKind.ENTITLEMENT,
                    notice_key(NoticeKind.ENTITLEMENT, licence),
                    entitlement.status or "UNKNOWN",
                    self.clock.now(),
                    {name: value for name, value in details.items() if value},
                )
            )
        return linked

    def _note(self, event: LifecycleEvent, notice: AgreementNotice, customers: list[Customer]) -> None:
        """Keep the notice under its agreement; an advisory also goes to the seller's systems (published before it
        is kept: a crash in between publishes it twice, as our other events may be)."""
        if notice.kind is NoticeKind.ADVISORY:
            issued = notice.status == "ISSUED"
            detail: dict[str, object] = {
                "agreement_id": notice.agreement_id,
                "customer_aws_account_id": event.account_id,
                "product_id": event.product_id or None,
                **notice.details,
                # the registered customers of the agreement (none yet: the buyer has not registered)
                "customers": [c.event_detail() for c in customers],
            }
            kind = CUSTOMER_ADVISORY_ISSUED if issued else CUSTOMER_ADVISORY_RESOLVED
            # the notification's id is the fact: SQS's redelivery of it carries the same
            self.publisher.publish(identified(kind, detail, str(notice.agreement_id), event.event_id))
        kept = self.events.record_notice(notice)
        if (name := NOTICE_METRICS.get((notice.kind, notice.status))) is not None:
            metrics.add_metric(name=name, unit="Count", value=1)
        logger.info(
            "agreement notice",
            notification=event.name,
            agreement_id=notice.agreement_id,
            status=notice.status,
            kept=kept,
        )

    def continue_ending(self, ref: CustomerRef, out_of_time: Callable[[], bool]) -> Outcome:
        """The timer of a leaving buyer: send their final usage once due, then end them once their hour is over."""
        customer = self.customers.get(ref)
        lifecycle = self.customers.lifecycle(customer) if customer else None
        if customer is None or lifecycle is None or lifecycle.times.state not in LEAVING_STATES:
            return Outcome("reactivated")  # subscribed again meanwhile (a renewal): nothing ends
        times = lifecycle.times
        now = self.clock.now()
        cutoff = self._set_cutoff(customer, times, now)
        due = self._final_usage_due(cutoff, times, now)
        if now < due:
            self.final_usage.schedule(ref, (due - now).total_seconds())
            return Outcome("waiting", (ref.key,))
        if self.other_regions is not None:  # asked first: a failure sending here delays none of theirs
            self.other_regions.ask(ref, now)
        # marked first: usage accepted after it (should they be subscribed again) must not go into the hours it sends
        self.customers.mark_final_usage_sent(ref, cutoff)
        # sent up to the final hour, the cutoff's: nothing later is theirs (what it carries on goes to earlier hours)
        self.final_usage.send(replace(customer, final_usage_cutoff=cutoff), out_of_time)
        if times.state is SubscriptionState.ENDED:
            # a retry of a step whose announcement failed after its end was stamped announces it now (attack 53)
            self._announce_end(customer, times)
            return Outcome("ended", (ref.key,))
        over = (times.ending or now) + FINAL_USAGE_WINDOW
        if now < over:
            self.final_usage.schedule(ref, (over - now).total_seconds())
            return Outcome("waiting", (ref.key,))
        self.events.record(primary_subject(customer), LifecycleKind.ENDED, over)
        self._announce_end(customer, self.customers.lifecycle(customer).times)
        return Outcome("ended", (ref.key,))

    def _product(self, event: LifecycleEvent) -> Product | None:
        return self.settings.product(event.product_code) or next(
            (p for p in self.settings.products if event.product_id and p.id == event.product_id), None
        )

    def _link(self, event: LifecycleEvent) -> None:
        """What ties an agreement to a buyer: a licence event names both; a renewal names the agreement it replaces."""
        if event.licence_id is not None and event.agreement_id is not None:
            self.events.link(licence_subject(event.licence_id), event.agreement_id)
        if event.previous_agreement_id is not None and event.agreement_id is not None:
            self.events.link(agreement_subject(event.previous_agreement_id), event.agreement_id)

    def _customers_named(self, event: LifecycleEvent, product: Product | None) -> list[tuple[Customer, BuyerLifecycle]]:
        if event.customer_identifier is not None:
            if product is None:
                return []
            customer = self.customers.get(CustomerRef(product.code, customer_identifier=event.customer_identifier))
            return [(customer, self.customers.lifecycle(customer))] if customer else []
        if event.account_id is None:
            return []
        found = []
        # one account may hold several licences of one product (Concurrent Agreements): each its own customer
        for candidate in self.customers.of_account(event.account_id, product.code if product else None):
            if event.licence_id is not None:
                named = licence_id(candidate.ref.license_arn or candidate.legacy_license_arn) == event.licence_id
                if not named:
                    continue
            lifecycle = self.customers.lifecycle(candidate)
            if event.licence_id is None and event.agreement_id not in lifecycle.agreements:
                continue
            current = self.customers.get(candidate.ref)
            if current is not None:
                found.append((current, lifecycle))
        return found

    def _follow_up(self, customer: Customer, lifecycle: BuyerLifecycle, event: LifecycleEvent) -> None:
        times = lifecycle.times
        state = times.state if times.changed_at else customer.state
        if state in LEAVING_STATES:
            self._begin_ending(customer, times, event)
        if state is SubscriptionState.ACTIVE and not customer.activation_announced:
            self._announce(customer, CUSTOMER_ACTIVATED, "announced_activation", customer.announced_activation, times)
        if state is SubscriptionState.ENDED:
            self._announce_end(customer, times)
        product = self.settings.product(customer.ref.product_code)
        contract = product is not None and product.pricing == "contract"
        if event.entitlements_changed and (event.name == ENTITLEMENT_UPDATED or contract):
            self.customers.set_entitlements(customer.ref, self.entitlements.current(customer))

    def _begin_ending(self, customer: Customer, times: LifecycleTimes, event: LifecycleEvent) -> None:
        now = self.clock.now()
        changed = customer.final_usage_cutoff != self._set_cutoff(customer, times, now)
        # an ending event seen again (a retry after a failure) schedules again: the timer's step is idempotent; so does
        # an activation that leaves them leaving (a return heard late moves their final hour: attack 52)
        if changed or event.kind is not None:
            self.final_usage.schedule(customer.ref, 0)
            metrics.add_metric(name="FinalUsageScheduled", unit="Count", value=1)

    def _set_cutoff(self, customer: Customer, times: LifecycleTimes, now: datetime) -> datetime:
        """The leaving buyer's cutoff: ``final_usage_cutoff_seconds`` into the final hour, or now where
        Marketplace closed the hour first (a License Deprovisioned after the Ended that opened it). Never set in the
        past (usage accepted until now may still be in flight: the final usage is sent once it has landed), nor,
        while Marketplace still takes their records, before what usage accepted until now may be stamped or the hour
        it was billed in (``_moved_to``); and only ever moved earlier for one ending."""
        ending_since = _final_hour_opened(times, now)
        planned = ending_since + timedelta(seconds=self.settings.final_usage_cutoff_seconds)
        # Marketplace closed the hour: now. Else usage accepted until now may be stamped up to FUTURE_SKEW ahead, and
        # its hour is sent too (simulator seed 31209), as long as the final usage is still sent within the final hour
        # (attack 47: a leave heard late had it pushed past the hour's end)
        latest = self._last_send(ending_since) - IN_FLIGHT_MARGIN
        ahead = max(now, min(now + FUTURE_SKEW, latest))
        moved = self._moved_to(customer, latest) or planned
        if times.state is SubscriptionState.ENDED:  # Marketplace closed the hour: any cutoff since it opened is its own
            cutoff, own_from = now, ending_since
        else:
            cutoff, own_from = max(planned, ahead, moved), self._earliest_kept(customer, planned, moved)
        stored = customer.final_usage_cutoff
        if stored is not None and own_from <= stored <= cutoff:
            return stored
        self.customers.set_final_usage_cutoff(customer.ref, cutoff, own_from)
        return cutoff

    @staticmethod
    def _earliest_kept(customer: Customer, planned: datetime, moved: datetime) -> datetime:
        """The earliest a stored cutoff may be and still be this leave's (one before is replaced): its plan and, where
        it fits, the hour usage taken after an earlier leave's final usage was billed in (``_moved_to``: a leave in
        between may have stored one before that hour, attack 73). One the final usage was sent with is kept from the
        plan on, as this leave's own (nothing taken after it went into that hour; an earlier leave's, at or after this
        plan, is taken for it too: open, docs/metering.md). One before the plan is an earlier subscription's (attack
        49), an earlier leave's used one, this leave stamped before it (attack 73), or where Marketplace closed the
        hour before a late event reopened it (attack 50: ingest takes nothing after a final usage sent in this final
        hour)."""
        sent, stored = customer.final_usage_sent, customer.final_usage_cutoff
        if sent is not None and stored is not None and sent >= stored:
            return planned
        return max(planned, moved)

    @staticmethod
    def _moved_to(customer: Customer, latest: datetime) -> datetime | None:
        """The earliest cutoff whose final hour holds the usage accepted while the buyer was back after an earlier
        leave's final usage: ingest bills it in the first hour that leave did not send early. A leave in the hour sent
        would have its final hour before it, and that usage would go out after Marketplace stopped taking theirs
        (attack 35): their final hour is the next one, if their final usage still fits in the hour after the leave
        (``latest``, as for usage stamped ahead). None where nothing was sent, or it does not fit (that usage, accepted
        before the leave was heard, is then parked CustomerNotSubscribed)."""
        if customer.final_usage_sent is None:
            return None
        moved = first_hour_after_final_usage(customer.final_usage_sent)
        return moved if moved <= latest else None

    def _final_usage_due(self, cutoff: datetime, times: LifecycleTimes, now: datetime) -> datetime:
        """When the final usage is sent: the delay after the cutoff, but no later than it can still be sent within
        the final hour (a leave heard late, a long delay: attack 48), and never before writes accepted up to the cutoff
        have landed."""
        delay = timedelta(seconds=self.settings.final_usage_delay_seconds)
        in_time = self._last_send(_final_hour_opened(times, now))
        # the in-flight margin, or a shorter delay where one is set (loopback stand-ins: synth refuses it in AWS)
        return max(cutoff + min(delay, IN_FLIGHT_MARGIN), min(cutoff + delay, in_time))

    def _last_send(self, ending_since: datetime) -> datetime:
        """The last moment the final usage may be asked for and still be sent within the final hour: sending takes
        FINAL_SEND; other Regions also wait for their schedule and their writes in flight (synth's own budget)."""
        budget = FINAL_SEND
        if self.other_regions is not None:
            budget += timedelta(minutes=FINAL_USAGE_REQUESTS_EVERY_MINUTES) + IN_FLIGHT_MARGIN
        return ending_since + FINAL_USAGE_WINDOW - budget

    def _announce_end(self, customer: Customer, times: LifecycleTimes) -> None:
        if times.state is SubscriptionState.ENDED:
            self._announce(customer, CUSTOMER_ENDED, "announced_end", customer.announced_end, times)

    def _announce(
        self, customer: Customer, detail_type: str, attribute: str, announced: datetime | None, times: LifecycleTimes
    ) -> None:
        at = times.activated if attribute == "announced_activation" else times.ended
        if at is None or (announced is not None and announced >= at):
            return
        # published before it is remembered: a crash in between announces twice (consumers see at-least-once)
        # the state these times decide (the stored customer may have been read before this event's time was kept)
        current = replace(customer, state=times.state, state_changed_at=times.changed_at or customer.state_changed_at)
        self.publisher.publish(identified(detail_type, current.event_detail(), customer.ref.key, at.isoformat()))
        self.customers.mark_announced(customer.ref, attribute, at)
