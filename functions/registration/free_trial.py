"""A free-trial claim Marketplace could not confirm at registration is asked about again later.

The browser's ``x-amzn-marketplace-offer-type=free-trial`` is a claim; GetAgreementTerms is what confirms it. When the
terms could not be read while the buyer registered (throttled, failing, unreachable), registration leaves a timer: a
delayed message to the lifecycle queue, which the lifecycle function hands here (``check``). Each check reads the
terms again, backing off up to the queue's longest delay; once Marketplace answers, the customer's free trial is what
it said (and "Customer Free Trial Confirmed" goes to the seller when it is one). A claim still unconfirmed a day after
registration is counted (metric ``FreeTrialClaimsUnconfirmed``, which raises an alarm) and no longer asked about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from functions.clock import Clock
from functions.customers.model import Customer, CustomerRef
from functions.observability import logger, metrics
from functions.registration.resolution import AgreementTerms, AgreementTermsUnavailable
from functions.seller_events import CUSTOMER_FREE_TRIAL_CONFIRMED, EventPublisher, PublishFailed, identified
from functions.storage.times import parse_time, time_text

FREE_TRIAL_CHECK = "free_trial_check"
# how long a claim is asked about before it is counted as unconfirmed
UNCONFIRMED_AFTER = timedelta(days=1)
FIRST_DELAY_SECONDS = 60
MAX_DELAY_SECONDS = 900  # SQS's longest message delay


class TimerUnavailable(Exception):
    """The delayed message could not be sent."""


class Timer(Protocol):
    def schedule(self, body: str, delay_seconds: int) -> None:
        """Deliver ``body`` to the lifecycle function after ``delay_seconds`` (at most 900); TimerUnavailable."""
        ...


class FreeTrialStore(Protocol):
    def get(self, ref: CustomerRef) -> Customer | None: ...

    def confirm_free_trial(self, ref: CustomerRef, free_trial: bool, at: datetime) -> bool:
        """Marketplace's word on the customer's free trial, read at ``at``: kept unless a newer one is stored."""
        ...


@dataclass(frozen=True)
class Check:
    """A timer's message: ask AWS again whether a buyer's claimed free trial is real."""

    ref: CustomerRef
    claimed_at: datetime
    attempt: int = 0

    def message(self) -> str:
        return json.dumps(
            {
                FREE_TRIAL_CHECK: {
                    "product_code": self.ref.product_code,
                    "license_arn": self.ref.license_arn,
                    "customer_identifier": self.ref.customer_identifier,
                    "claimed_at": time_text(self.claimed_at),
                    "attempt": self.attempt,
                }
            }
        )

    @property
    def delay_seconds(self) -> int:
        return min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS << min(self.attempt, 10))


def requested_check(body: str) -> Check | None:
    """The check a lifecycle-queue message asks for; None for any other message; ValueError for a malformed one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or FREE_TRIAL_CHECK not in document:
        return None
    request = document[FREE_TRIAL_CHECK]
    try:
        ref = CustomerRef(
            product_code=str(request["product_code"]),
            license_arn=request.get("license_arn"),
            customer_identifier=request.get("customer_identifier"),
        )
        return Check(ref, parse_time(str(request["claimed_at"])), int(request["attempt"]))
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"{FREE_TRIAL_CHECK}: not a check ({error})") from None


@dataclass
class FreeTrialChecks:
    """Free-trial claims checked against the agreement's terms, now and later from the lifecycle queue."""

    agreement_terms: AgreementTerms
    customers: FreeTrialStore
    publisher: EventPublisher
    clock: Clock
    timer: Timer | None  # None: nowhere to leave a timer (no lifecycle queue configured)

    def later(self, check: Check) -> None:
        """Leave a timer for ``check``. Never fails the caller: a registration is done whatever happens here."""
        if self.timer is None:
            logger.warning("free-trial claim not checked again: no lifecycle queue", customer=check.ref.key)
            metrics.add_metric(name="FreeTrialChecksNotScheduled", unit="Count", value=1)
            return
        try:
            self.timer.schedule(check.message(), check.delay_seconds)
        except TimerUnavailable as error:
            logger.warning("free-trial claim not checked again", customer=check.ref.key, reason=str(error))
            metrics.add_metric(name="FreeTrialChecksNotScheduled", unit="Count", value=1)

    def handle(self, body: str) -> str | None:
        """One lifecycle-queue message: the outcome of the check it asks for, or None if it asks for none."""
        check = requested_check(body)
        if check is None:
            return None
        outcome = self.check(check)
        logger.info("free-trial claim checked", customer=check.ref.key, outcome=outcome, attempt=check.attempt)
        return outcome

    def check(self, check: Check) -> str:
        customer = self.customers.get(check.ref)
        if customer is None or customer.agreement_id is None or not customer.free_trial_claimed:
            return "nothing to check"
        if customer.free_trial_known_at is not None:
            return "known"  # Marketplace said meanwhile: a later registration, a legacy subscribe-success
        now = self.clock.now()
        try:
            free_trial = self.agreement_terms.includes_free_trial(customer.agreement_id)
        except AgreementTermsUnavailable as error:
            if now - check.claimed_at >= UNCONFIRMED_AFTER:
                logger.warning(
                    "free-trial claim still unconfirmed a day after registration",
                    customer=check.ref.key,
                    reason=error.reason,
                )
                metrics.add_metric(name="FreeTrialClaimsUnconfirmed", unit="Count", value=1)
                return "unconfirmed"
            self.later(Check(check.ref, check.claimed_at, check.attempt + 1))
            return "checking again later"
        self.customers.confirm_free_trial(check.ref, free_trial, now)
        if not free_trial:
            metrics.add_metric(name="FreeTrialClaimsNotConfirmed", unit="Count", value=1)
            return "not a free trial"
        metrics.add_metric(name="FreeTrialsConfirmedLater", unit="Count", value=1)
        self._announce(customer)
        return "confirmed"

    def _announce(self, customer: Customer) -> None:
        detail: dict[str, Any] = {**customer.event_detail(), "free_trial": True}
        try:
            self.publisher.publish(
                identified(CUSTOMER_FREE_TRIAL_CONFIRMED, detail, customer.ref.key, str(customer.agreement_id))
            )
        except PublishFailed:  # confirmed and stored: the seller reads it with the customer
            logger.exception("event not published; the free trial is stored", detail_type=CUSTOMER_FREE_TRIAL_CONFIRMED)
            metrics.add_metric(name="RegistrationEventsNotPublished", unit="Count", value=1)
