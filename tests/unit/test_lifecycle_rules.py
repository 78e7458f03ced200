"""The lifecycle's follow-ups on in-memory fakes, with AWS's published event shapes (tests/fixtures/aws): activation
announced once, a leaving buyer's cutoff and timer, their end after the final hour, renewals and concurrent licences."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import CUSTOMER_ACTIVATED, CUSTOMER_ENDED, Lifecycle
from functions.seller_events import RecordingPublisher
from functions.settings import Dimension, Product, Settings
from tests.aws_corpus import Parties, eventbridge_example
from tests.fakes import FakeAgreementEntitlements, InMemoryCustomers, InMemoryLifecycleStore, Timers
from tests.unit.lifecycle_events import times_of

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
PRODUCT = Product(code="prod-code-1", name="P", dimensions=(Dimension("calls"),))
ACCOUNT = "845735284135"


class NoEntitlements:
    def current(self, customer: Customer) -> tuple[dict[str, object], ...]:
        return ()


class Buyer:
    def __init__(self, n: int = 1) -> None:
        self.licence = f"l-{n:032x}"
        self.ref = CustomerRef(
            PRODUCT.code, license_arn=f"arn:aws:license-manager::294406891311:license:{self.licence}"
        )
        self.parties = Parties(
            buyer_account=ACCOUNT, agreement_id=f"agmt-{n:025d}", licence_id=self.licence, product_code=PRODUCT.code
        )


class OtherRegionsAsked:
    """The other metering Regions (our OtherRegions port): each ask kept, in order with what was sent here."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def ask(self, ref: CustomerRef, at: datetime) -> None:
        self.log.append(f"asked {ref.key} at {at:%H:%M}")


class World:
    def __init__(self, *, other_regions: bool = False) -> None:
        self.clock = ManualClock(T0)
        self.customers = InMemoryCustomers(InMemoryLifecycleStore())
        self.timers = Timers(send_usage=lambda customer, out_of_time: self.sent.append(customer.ref.key))
        self.sent: list[str] = []
        self.publisher = RecordingPublisher()
        self.agreement_entitlements = FakeAgreementEntitlements()
        self.lifecycle = Lifecycle(
            settings=Settings(products=(PRODUCT,)),
            events=self.customers.lifecycle_store,
            customers=self.customers,
            entitlements=NoEntitlements(),
            publisher=self.publisher,
            final_usage=self.timers,
            clock=self.clock,
            agreement_entitlements=self.agreement_entitlements,
            other_regions=OtherRegionsAsked(self.sent) if other_regions else None,
        )

    def register(self, buyer: Buyer) -> None:
        self.customers.put(
            Customer(buyer.ref, ACCOUNT, SubscriptionState.PENDING, T0, agreement_id=buyer.parties.agreement_id)
        )

    def send(self, buyer: Buyer, example: str, *, at: datetime | None = None, **names: Any) -> None:
        """AWS's example about ``buyer``, heard now; ``at``: the time it says (a late delivery), else now."""
        event = eventbridge_example(example, buyer.parties.with_(**names), at=at or self.clock.now())
        self.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=self.clock.now()))

    def pass_time(self, minutes: int) -> None:
        """Minutes pass; the lifecycle queue delivers each timer when its delay is over."""
        end = self.clock.now() + timedelta(minutes=minutes)
        while self.timers.scheduled:
            ref, delay = self.timers.scheduled.pop(0)
            due = self.clock.now() + timedelta(seconds=delay)
            if due > end:
                self.timers.scheduled.insert(0, (ref, (due - end).total_seconds()))
                break
            self.clock.set(due)
            self.lifecycle.continue_ending(ref, lambda: False)
        self.clock.set(end)

    def state(self, buyer: Buyer) -> SubscriptionState:
        customer = self.customers.get(buyer.ref)
        assert customer is not None
        return customer.state

    def announced(self) -> list[str]:
        return [e.detail_type for e in self.publisher.events]


def subscribed(world: World, buyer: Buyer) -> None:
    world.register(buyer)
    world.send(buyer, "created_proposer_new.json")
    world.send(buyer, "license_updated.json")


def test_an_activation_is_announced_once_whatever_events_repeat_it() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.clock.set(T0 + timedelta(minutes=5))
    world.send(buyer, "license_updated.json")
    world.send(buyer, "amended_proposer.json")
    assert world.state(buyer) is SubscriptionState.ACTIVE
    assert world.announced() == [CUSTOMER_ACTIVATED]


def test_a_leaving_buyer_gets_a_cutoff_their_final_usage_after_it_and_an_end_after_the_hour() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.clock.set(T0 + timedelta(minutes=10))
    world.send(buyer, "license_deprovisioned.json")
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert customer.final_usage_cutoff == T0 + timedelta(minutes=55)  # 45 minutes into the final hour
    world.pass_time(40)
    assert world.sent == []
    world.pass_time(10)  # the cutoff and the delay for writes in flight have passed
    assert world.sent == [buyer.ref.key]
    assert world.state(buyer) is SubscriptionState.ENDING
    world.pass_time(15)  # the final hour is over: nothing more will come from EventBridge
    assert world.state(buyer) is SubscriptionState.ENDED
    assert world.announced() == [CUSTOMER_ACTIVATED, CUSTOMER_ENDED]


def test_a_leaving_buyers_other_metering_regions_are_asked_first_and_only_when_due() -> None:
    world, buyer = World(other_regions=True), Buyer()
    subscribed(world, buyer)
    world.clock.set(T0 + timedelta(minutes=10))
    world.send(buyer, "license_deprovisioned.json")
    world.pass_time(40)
    assert world.sent == []  # before the cutoff, nobody is asked
    world.pass_time(10)
    # asked at the cutoff (10:55) plus the delay for writes in flight, before this Region sends its own
    assert world.sent == [f"asked {buyer.ref.key} at 10:56", buyer.ref.key]


def test_a_renewals_replaced_agreement_ends_nobody() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.clock.set(T0 + timedelta(minutes=10))
    world.send(buyer, "ended_proposer.json")  # before the renewal that explains it
    assert world.state(buyer) is SubscriptionState.ENDING
    world.send(buyer, "created_proposer_renew.json", renewal_agreement_id="agmt-renewed0000000000000000")
    assert world.state(buyer) is SubscriptionState.ACTIVE
    world.pass_time(120)
    assert world.state(buyer) is SubscriptionState.ACTIVE
    assert CUSTOMER_ENDED not in world.announced()


def test_one_licences_events_never_touch_the_accounts_other_licence() -> None:
    world, first, second = World(), Buyer(1), Buyer(2)
    subscribed(world, first)
    subscribed(world, second)
    world.clock.set(T0 + timedelta(minutes=10))
    world.send(first, "ended_proposer.json")
    world.clock.set(T0 + timedelta(minutes=20))
    world.send(first, "license_deprovisioned.json")
    assert (world.state(first), world.state(second)) == (SubscriptionState.ENDED, SubscriptionState.ACTIVE)


def test_events_before_registration_apply_once_the_buyer_registers() -> None:
    world, buyer = World(), Buyer()
    world.send(buyer, "created_proposer_new.json")
    world.send(buyer, "license_updated.json")
    assert world.customers.get(buyer.ref) is None
    world.register(buyer)
    assert world.state(buyer) is SubscriptionState.ACTIVE


def test_a_deprovisioning_closes_the_agreement_it_names_and_is_the_leave_of_the_newest() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    first, second = buyer.parties.agreement_id, "agmt-0000000000000000000000002"
    world.send(buyer, "ended_proposer.json")  # the seller guide's order: the Ended opens the final hour
    world.pass_time(20)
    world.send(buyer, "created_proposer_new.json", agreement_id=second)  # back on the licence, a new agreement
    world.send(buyer, "license_updated.json", agreement_id=second)
    world.pass_time(20)
    world.send(buyer, "license_deprovisioned.json", agreement_id=first)  # the left agreement's close
    assert world.state(buyer) is SubscriptionState.ACTIVE
    world.pass_time(10)
    world.send(buyer, "license_deprovisioned.json", agreement_id=second)  # AWS's 2026 order: their leave comes first
    assert world.state(buyer) is SubscriptionState.ENDING
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert customer.state_changed_at == world.clock.now()  # their final hour opened at this leave


def test_a_deprovisioning_kept_without_its_agreement_is_told_by_its_time() -> None:
    """Kept before deprovisionings were recorded with their agreement: the seller guide's order read by times."""
    hour = timedelta(hours=1)
    licence = times_of((LifecycleKind.ACTIVATED, T0), (LifecycleKind.ACTIVATED, T0 + 1.5 * hour))
    licence = licence.merge(LifecycleKind.ENDING, T0 + 2 * hour)  # the first agreement's Deprovisioned
    first = times_of((LifecycleKind.ACTIVATED, T0), (LifecycleKind.ENDING, T0 + hour))
    second = times_of((LifecycleKind.ACTIVATED, T0 + 1.5 * hour))
    assert buyer_times(licence, {"a1": first, "a2": second}, None).state is SubscriptionState.ACTIVE
    # the same Deprovisioned, recorded as naming the newest agreement: the buyer's leave
    named = replace(second, deprovisioned_times=frozenset({T0 + 2 * hour}))
    assert buyer_times(licence, {"a1": first, "a2": named}, None).state is SubscriptionState.ENDING
    # naming the agreement they left: its close, as the times said
    named_first = replace(first, deprovisioned_times=frozenset({T0 + 2 * hour}))
    assert buyer_times(licence, {"a1": named_first, "a2": second}, None).state is SubscriptionState.ACTIVE


def test_only_a_license_deprovisioned_deprovisions_an_agreement() -> None:
    buyer = Buyer()
    kinds = {}
    for example in ("license_deprovisioned.json", "license_updated.json", "ended_proposer.json"):
        event = eventbridge_example(example, buyer.parties, at=T0)
        kinds[example] = parse_notification(json.dumps(event), message_id="m", sent_at=T0).deprovisions_agreement
    assert kinds == {"license_deprovisioned.json": True, "license_updated.json": False, "ended_proposer.json": False}


def test_the_end_stamped_for_a_left_agreement_does_not_end_the_buyer_back_on_their_licence() -> None:
    """Simulator seed 248: back on their licence 58 minutes into the final hour of the agreement they left, the
    return's License Updated heard only after the final-usage step had stamped that hour's end."""
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    left = world.clock.now()
    world.send(buyer, "ended_proposer.json")
    world.pass_time(61)  # the step finds the hour over: ENDED, stamped an hour after the leave
    assert world.state(buyer) is SubscriptionState.ENDED
    back = left + timedelta(minutes=58)
    world.send(buyer, "license_updated.json", at=back, agreement_id="agmt-0000000000000000000000002")
    assert world.state(buyer) is SubscriptionState.ACTIVE
    world.send(buyer, "created_proposer_new.json", at=back, agreement_id="agmt-0000000000000000000000002")
    world.pass_time(120)
    assert world.state(buyer) is SubscriptionState.ACTIVE
