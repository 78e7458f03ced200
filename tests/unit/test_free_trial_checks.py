"""Checking a free-trial claim again later, on in-memory fakes of our own interfaces."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.registration.free_trial import (
    UNCONFIRMED_AFTER,
    Check,
    FreeTrialChecks,
    TimerUnavailable,
    requested_check,
)
from functions.registration.resolution import AgreementTermsUnavailable
from functions.seller_events import CUSTOMER_FREE_TRIAL_CONFIRMED, RecordingPublisher
from tests.fakes import FakeAgreementTerms, InMemoryCustomers

NOW = datetime(2026, 11, 26, 10, tzinfo=UTC)
REF = CustomerRef("prod1", license_arn="arn:aws:license-manager::1:license:l-1")
CLAIMED = Customer(REF, "111122223333", SubscriptionState.PENDING, NOW, agreement_id="agmt-1", free_trial_claimed=True)


@dataclass
class FakeTimer:
    scheduled: list[tuple[str, int]] = field(default_factory=list)
    failing: bool = False

    def schedule(self, body: str, delay_seconds: int) -> None:
        if self.failing:
            raise TimerUnavailable("ThrottlingException")
        self.scheduled.append((body, delay_seconds))


def checks(terms: FakeAgreementTerms, customer: Customer = CLAIMED, timer: FakeTimer | None = None) -> FreeTrialChecks:
    customers = InMemoryCustomers()
    customers.put(customer)
    return FreeTrialChecks(terms, customers, RecordingPublisher(), ManualClock(NOW), timer or FakeTimer())


def test_a_check_is_a_message_of_its_own_on_the_lifecycle_queue() -> None:
    check = Check(REF, NOW, attempt=3)
    assert requested_check(check.message()) == check
    assert requested_check('{"final_usage": {}}') is None
    assert requested_check("not json") is None


def test_while_marketplace_cannot_say_the_check_comes_again_later_and_later() -> None:
    timer = FakeTimer()
    service = checks(FakeAgreementTerms(AgreementTermsUnavailable("ThrottlingException")), timer=timer)
    outcomes = []
    check = Check(REF, NOW)
    for _ in range(6):
        outcomes.append(service.check(check))
        body, _ = timer.scheduled[-1]
        found = requested_check(body)
        assert found is not None
        check = found
    assert set(outcomes) == {"checking again later"}
    # a minute, then doubling, never beyond the queue's longest delay
    assert [delay for _, delay in timer.scheduled] == [120, 240, 480, 900, 900, 900]


def test_a_day_after_the_claim_it_is_counted_and_no_longer_asked() -> None:
    timer = FakeTimer()
    service = checks(FakeAgreementTerms(AgreementTermsUnavailable("AccessDeniedException")), timer=timer)
    assert service.check(Check(REF, NOW - UNCONFIRMED_AFTER, attempt=90)) == "unconfirmed"
    assert timer.scheduled == []


def test_marketplaces_answer_is_kept_and_a_confirmed_trial_announced() -> None:
    service = checks(FakeAgreementTerms(True))
    assert service.check(Check(REF, NOW - timedelta(minutes=5))) == "confirmed"
    customer = service.customers.get(REF)
    assert customer is not None
    assert (customer.free_trial, customer.free_trial_known_at) == (True, NOW)
    assert isinstance(service.publisher, RecordingPublisher)
    assert [e.detail_type for e in service.publisher.events] == [CUSTOMER_FREE_TRIAL_CONFIRMED]
    # a paid agreement: the claim is answered, nothing announced
    paid = checks(FakeAgreementTerms(False))
    assert paid.check(Check(REF, NOW)) == "not a free trial"
    assert isinstance(paid.publisher, RecordingPublisher)
    assert paid.publisher.events == []


def test_nothing_is_asked_once_marketplace_has_said_or_where_nothing_was_claimed() -> None:
    for customer in (
        replace(CLAIMED, free_trial_known_at=NOW),
        replace(CLAIMED, free_trial_claimed=False),
        replace(CLAIMED, agreement_id=None),
    ):
        terms = FakeAgreementTerms(True)
        assert checks(terms, customer).check(Check(REF, NOW)) in {"known", "nothing to check"}
        assert terms.agreements == []


def test_a_timer_that_cannot_be_left_never_fails_the_caller() -> None:
    service = checks(FakeAgreementTerms(AgreementTermsUnavailable("x")), timer=FakeTimer(failing=True))
    assert service.check(Check(REF, NOW)) == "checking again later"
