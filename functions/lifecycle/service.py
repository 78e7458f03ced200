"""What a lifecycle notification does: keep its time, then act on the state it leaves the buyer in.

Every follow-up is derived from the state after the event, never from the event alone, so a duplicate or a late
old event cannot undo anything, and each is safe to repeat: the final usage is sealed once per subscription
(a conditional cutoff) and its records are identical on every run; announcements are remembered per lifecycle time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from functions.clock import Clock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.lifecycle.entitlements import EntitlementReader
from functions.lifecycle.notifications import ENTITLEMENT_UPDATED, LifecycleEvent
from functions.lifecycle.state import LifecycleKind, LifecycleTimes
from functions.lifecycle.store import LifecycleStore
from functions.lifecycle.subjects import licence_id
from functions.observability import logger, metrics
from functions.registration.events import CUSTOMER_ACTIVATED, CUSTOMER_ENDED, DomainEvent, EventPublisher
from functions.settings import Product, Settings

__all__ = ["CUSTOMER_ACTIVATED", "CUSTOMER_ENDED", "Lifecycle"]


class LifecycleCustomers(Protocol):
    def get(self, ref: CustomerRef) -> Customer | None: ...

    def of_account(self, account_id: str, product_code: str) -> list[Customer]: ...

    def lifecycle_times(self, customer: Customer) -> LifecycleTimes: ...

    def set_final_usage_cutoff(self, ref: CustomerRef, cutoff: datetime, activated: datetime | None) -> bool: ...

    def mark_announced(self, ref: CustomerRef, attribute: str, at: datetime) -> bool: ...

    def set_entitlements(self, ref: CustomerRef, entitlements: tuple[dict[str, object], ...]) -> bool: ...


class FinalUsageScheduler(Protocol):
    def schedule(self, ref: CustomerRef) -> None:
        """Run the final-usage step for ``ref`` once its delay has passed."""
        ...


@dataclass(frozen=True)
class Outcome:
    status: str  # applied | ignored
    customers: tuple[str, ...] = ()  # CustomerRef keys the event was applied to (registered buyers)


@dataclass
class Lifecycle:
    settings: Settings
    events: LifecycleStore
    customers: LifecycleCustomers
    entitlements: EntitlementReader
    publisher: EventPublisher
    final_usage: FinalUsageScheduler
    clock: Clock

    def handle(self, event: LifecycleEvent) -> Outcome:
        product = self._product(event)
        if not event.known or product is None:
            # acknowledged, not retried: nothing we could do with it later either
            logger.info(
                "lifecycle notification ignored",
                notification=event.name,
                product_code=event.product_code,
                reason="unknown product" if event.known else "unknown notification",
            )
            metrics.add_metric(name="LifecycleNotificationsIgnored", unit="Count", value=1)
            return Outcome("ignored")
        if event.kind is not None and event.subject is not None:
            self.events.record(event.subject, event.kind, event.occurred_at)
        named = self._customers_named(event, product)
        if not named:
            logger.info("event for a buyer not registered yet: applies on registration", notification=event.name)
        for customer in named:
            self._follow_up(customer, event, product)
        return Outcome("applied", tuple(c.ref.key for c in named))

    def _product(self, event: LifecycleEvent) -> Product | None:
        return self.settings.product(event.product_code) or next(
            (p for p in self.settings.products if event.product_id and p.id == event.product_id), None
        )

    def _customers_named(self, event: LifecycleEvent, product: Product) -> list[Customer]:
        if event.customer_identifier is not None:
            customer = self.customers.get(CustomerRef(product.code, customer_identifier=event.customer_identifier))
            return [customer] if customer else []
        if event.account_id is None:
            return []
        found = []
        for candidate in self.customers.of_account(event.account_id, product.code):
            names_it = (event.agreement_id is not None and candidate.agreement_id == event.agreement_id) or (
                event.licence_id is not None
                and licence_id(candidate.ref.license_arn or candidate.legacy_license_arn) == event.licence_id
            )
            current = self.customers.get(candidate.ref) if names_it else None
            if current is not None:
                found.append(current)
        return found

    def _follow_up(self, customer: Customer, event: LifecycleEvent, product: Product) -> None:
        times = self.customers.lifecycle_times(customer)
        state = times.state if times.changed_at else customer.state
        if state in (SubscriptionState.ENDING, SubscriptionState.ENDED):
            self._seal_final_usage(customer, times, event)
        if state is SubscriptionState.ACTIVE and times.activated is not None:
            self._announce(customer, CUSTOMER_ACTIVATED, "announced_activation", customer.announced_activation, times)
        if state is SubscriptionState.ENDED and times.ended is not None:
            self._announce(customer, CUSTOMER_ENDED, "announced_end", customer.announced_end, times)
        if event.entitlements_changed and (event.name == ENTITLEMENT_UPDATED or product.pricing == "contract"):
            self.customers.set_entitlements(customer.ref, self.entitlements.current(customer))

    def _seal_final_usage(self, customer: Customer, times: LifecycleTimes, event: LifecycleEvent) -> None:
        cutoff = customer.final_usage_cutoff
        current = cutoff is not None and (times.activated is None or cutoff >= times.activated)
        sealed_now = not current and self.customers.set_final_usage_cutoff(
            customer.ref, self.clock.now(), times.activated
        )
        # an ending event seen again (a retry after a failure) schedules again: the step is idempotent
        if sealed_now or event.kind in (LifecycleKind.ENDING, LifecycleKind.ENDED):
            self.final_usage.schedule(customer.ref)
            metrics.add_metric(name="FinalUsageScheduled", unit="Count", value=1)

    def _announce(
        self, customer: Customer, detail_type: str, attribute: str, announced: datetime | None, times: LifecycleTimes
    ) -> None:
        at = times.activated if attribute == "announced_activation" else times.ended
        if at is None or (announced is not None and announced >= at):
            return
        # published before it is remembered: a crash in between announces twice (consumers see at-least-once)
        # the state these times decide (the stored customer may have been read before this event's time was kept)
        current = replace(customer, state=times.state, state_changed_at=times.changed_at or customer.state_changed_at)
        self.publisher.publish(DomainEvent(detail_type, current.event_detail()))
        self.customers.mark_announced(customer.ref, attribute, at)
