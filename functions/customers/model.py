"""A buyer's subscription to one product, as we know it: who they are and whether they may be metered."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class SubscriptionState(StrEnum):
    PENDING = "pending"  # registered, subscription not yet confirmed: records would not be billed
    ACTIVE = "active"
    ENDING = "ending"  # unsubscribe under way: final usage may still be sent
    ENDED = "ended"
    FAILED = "failed"


METERABLE_STATES = frozenset({SubscriptionState.ACTIVE, SubscriptionState.ENDING})
# unsubscribed: their final usage is sent early, then they end
LEAVING_STATES = frozenset({SubscriptionState.ENDING, SubscriptionState.ENDED})
# After a buyer's subscription ends AWS Marketplace takes their final usage for about an hour.
FINAL_USAGE_WINDOW = timedelta(hours=1)
# What a leaving buyer's final-usage step needs of their final hour to send it, its retries included, once it runs.
FINAL_SEND = timedelta(seconds=300)
# How far ahead of our clock a usage event may be stamped (producers' clocks drift): usage accepted by now may be
# stamped up to this much later, so a leaving buyer's cutoff is never set before it (functions.lifecycle.service).
FUTURE_SKEW = timedelta(minutes=5)
# Longest a usage write may still be in flight after its request was accepted (API Gateway gives up at 29 s): the
# final usage is sent no sooner after the cutoff. Both kept here, beside the final hour's, as the lifecycle needs them
# without importing the usage model (its cold start).
IN_FLIGHT_MARGIN = timedelta(seconds=60)


def final_usage_cutoff(ending_since: datetime, stored: datetime | None, after: timedelta) -> datetime:
    """The cutoff a leaving buyer's final usage is sent with, so its hour is the last one sent: the one the lifecycle
    stored, which may be later than the plan (usage stamped ahead, or moved to the hour after an earlier final usage)
    or earlier (Marketplace closed the hour). A stored cutoff older than this ending belonged to an earlier one (a
    renewal that came late) and does not count: the plan, ``after`` into their final hour, until it is replaced."""
    if stored is not None and stored >= ending_since:
        return stored
    return ending_since + after


def usage_taken_until(
    ending_since: datetime, stored: datetime | None, sent: datetime | None, after: timedelta
) -> datetime:
    """When a leaving buyer's usage stops being taken: ``after`` into their final hour, or the earlier cutoff their
    final usage is sent with; and never after a final usage already sent within this final hour: Marketplace may have
    closed the hour then (attack 50: a late event turned an ended buyer back to ending), and usage taken after it,
    billed in the hour after the one sent, would reach a Marketplace that takes no more."""
    taken = min(ending_since + after, final_usage_cutoff(ending_since, stored, after))
    if sent is not None and sent >= ending_since:
        return min(taken, sent)
    return taken


TENANT_ID_MAX_LENGTH = 128
# what a seller's tenant or account id looks like: no spaces or control characters, nothing that needs escaping
_TENANT_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def tenant_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a tenant id, or None."""
    if not isinstance(value, str) or not _TENANT_ID.fullmatch(value):
        return f"tenant_id must be 1 to {TENANT_ID_MAX_LENGTH} characters of letters, digits and . _ : @ / + = -"
    return None


class TenantConflict(Exception):
    """The customer is linked to another of the seller's tenants already; ``current`` names it."""

    def __init__(self, current: str) -> None:
        super().__init__("the customer is linked to another tenant")
        self.current = current


class SingleUseSpent(Exception):
    """A single-use value (a sign-up value, a tenant link) was used already, replaced by a later one, or never this
    customer's."""


class SingleUseExpired(Exception):
    """A single-use value's time is up."""


@dataclass(frozen=True)
class CustomerRef:
    """How usage and events name a customer: a licence (current products) or a legacy identifier."""

    product_code: str
    license_arn: str | None = None
    customer_identifier: str | None = None

    def __post_init__(self) -> None:
        if (self.license_arn is None) == (self.customer_identifier is None):
            raise ValueError("a customer is named by exactly one of license_arn or customer_identifier")

    @property
    def key(self) -> str:
        """Stable key of this customer within the product; also the Marketplace dedup identity."""
        if self.license_arn is not None:
            return f"LICENSE#{self.license_arn}"
        return f"LEGACY#{self.product_code}#{self.customer_identifier}"


@dataclass(frozen=True)
class FinalUsageRequest:
    """The main Region's ask of another (``functions.customers.final_usage_requests``): send this leaving buyer's
    usage now."""

    ref: CustomerRef
    requested_at: str


@dataclass(frozen=True)
class Customer:
    """A registered buyer of one product: who they are to Marketplace, their subscription's state, and what
    registration and the lifecycle recorded of them."""

    ref: CustomerRef
    customer_aws_account_id: str
    state: SubscriptionState
    # event time of the change that set ``state``: an older event never undoes a newer one
    state_changed_at: datetime
    registered_at: datetime | None = None
    agreement_id: str | None = None
    # when a registration first linked ``agreement_id`` to the buyer (None: not known, stored by an earlier version)
    agreement_linked_at: datetime | None = None
    # confirmed by AWS Marketplace (the agreement's terms, or a legacy subscribe-success): what the seller may act on
    free_trial: bool = False
    # when Marketplace last said whether it is a free trial (None: it has not said, and ``free_trial`` is False)
    free_trial_known_at: datetime | None = None
    # what the buyer's browser said at registration (x-amzn-marketplace-offer-type): anyone can send it
    free_trial_claimed: bool = False
    entitlements: tuple[dict[str, object], ...] = ()
    # a legacy customer's LicenseArn as ResolveCustomer also returned it (licence customers carry it in ``ref``)
    legacy_license_arn: str | None = None
    # a leaving buyer's usage is taken until then, and sent once writes in flight at it have landed
    final_usage_cutoff: datetime | None = None
    # the cutoff whose final usage was sent (or may have been: marked first): the hours up to its hour are sent early
    # for this buyer, so usage of theirs accepted later (a renewal announced late) goes to the hour after
    final_usage_sent: datetime | None = None
    # lifecycle times already announced to the seller's systems ("Customer Activated" / "Customer Ended")
    announced_activation: datetime | None = None
    announced_end: datetime | None = None
    # the seller's own name for the buyer's account in their systems (cli set-tenant, or the sign-up page's link)
    tenant_id: str | None = None
    # when the subscription started (its earliest activation event; None: not known): no usage before it is theirs
    subscribed_at: datetime | None = None
    # where that start is unheard though the buyer left this subscription (a legacy buyer back, their subscribe-success
    # still on its way when their next unsubscribe-pending came: attack 74): it came after ``subscribed_after`` (their
    # leave of the subscription before) and by ``subscribed_by`` (their leave of this one). Derived, never stored.
    subscribed_after: datetime | None = None
    subscribed_by: datetime | None = None
    # their subscriptions before this one (a buyer back on the same licence or identifier), each (start, when
    # Marketplace stopped taking its records): usage stamped in one is theirs, billed late. Derived, never stored.
    earlier_terms: tuple[tuple[datetime, datetime], ...] = ()

    @property
    def meterable(self) -> bool:
        return self.state in METERABLE_STATES

    @property
    def usage_from(self) -> datetime | None:
        """The earliest stamp of usage that is the buyer's (None: no bound known): their subscription's start; while AWS
        has not said it, the first moment seen in it (``first_seen_subscribed``) less a producer's clock running behind
        by as much as one may run ahead (``FUTURE_SKEW``: attack 74), never before they left the subscription before."""
        if self.subscribed_at is not None:
            return self.subscribed_at
        seen = self.first_seen_subscribed
        if seen is None:
            return None
        return max(seen - FUTURE_SKEW, self.subscribed_after or seen - FUTURE_SKEW)

    def subscribed_earlier_at(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in one of their earlier subscriptions (their final hour included)."""
        return any(start <= moment < close for start, close in self.earlier_terms)

    @property
    def first_seen_subscribed(self) -> datetime | None:
        """While AWS has not said when the current subscription started, the first moment known to fall in it: the
        registration (they register after subscribing: simulator seed 162), unless it came before Marketplace closed
        the subscription before (a registration of that one, even in its final hour: attack 76 found one after its
        leave opening the whole gap), or their leave of it (``subscribed_by``). None: nothing known, or the start is."""
        if self.subscribed_at is not None:
            return None
        registered, after = self.registered_at, self.subscribed_after
        closed = max((close for _, close in self.earlier_terms), default=after)
        if registered is not None and closed is not None and registered <= closed:
            registered = None  # a registration of the subscription before
        return min((at for at in (registered, self.subscribed_by) if at is not None), default=None)

    @property
    def activation_announced(self) -> bool:
        """Whether "Customer Activated" went out for the current subscription: a renewal, a licence update or a
        repeated event announces nothing more; a subscription after an announced end is announced again."""
        announced = self.announced_activation
        return announced is not None and (self.announced_end is None or announced > self.announced_end)

    def event_detail(self) -> dict[str, object]:
        """The customer as our events ("Customer Registered / Activated / Ended") describe it to the seller."""
        return {
            "product_code": self.ref.product_code,
            "customer_aws_account_id": self.customer_aws_account_id,
            "license_arn": self.ref.license_arn or self.legacy_license_arn,
            "customer_identifier": self.ref.customer_identifier,
            "agreement_id": self.agreement_id,
            "free_trial": self.free_trial,
            "free_trial_claimed": self.free_trial_claimed,
            "state": self.state.value,
            "state_changed_at": self.state_changed_at.isoformat(),
            "registered_at": self.registered_at.isoformat() if self.registered_at else None,
        }


class CustomerRepository(Protocol):
    def get(self, ref: CustomerRef) -> Customer | None: ...

    def get_many(self, refs: Collection[CustomerRef]) -> dict[CustomerRef, Customer | None]:
        """Several customers read together (None for an unknown one): a batch of usage names many."""
        ...

    def put(self, customer: Customer) -> None: ...

    def list_all(self) -> Iterator[Customer]: ...
