from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.customers.subjects import agreement_subject, legacy_subject, licence_subject
from functions.customers.subscription import LifecycleKind
from functions.settings import Settings


def test_a_customer_round_trips_and_one_account_holds_several_licences(dynamodb: Any, settings: Settings) -> None:
    # Given one buyer account with two licences
    repository = DynamoCustomerRepository(dynamodb, settings.customers_table)
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    first = Customer(
        ref=CustomerRef("prod1", license_arn="arn:aws:license-manager::123456789012:license:l-1"),
        customer_aws_account_id="123456789012",
        state=SubscriptionState.ACTIVE,
        state_changed_at=now,
        registered_at=now,
    )
    second = Customer(
        ref=CustomerRef("prod1", license_arn="arn:aws:license-manager::123456789012:license:l-2"),
        customer_aws_account_id="123456789012",
        state=SubscriptionState.PENDING,
        state_changed_at=now,
    )
    # When both are stored
    repository.put(first)
    repository.put(second)
    # Then each reads back as stored, and both are listed
    assert repository.get(first.ref) == first
    assert repository.get(second.ref) == second
    assert repository.get(CustomerRef("prod1", customer_identifier="nobody")) is None
    assert {c.ref for c in repository.list_all()} == {first.ref, second.ref}
    assert first.meterable
    assert not second.meterable


def test_many_customers_read_together_are_each_what_reading_them_alone_gives(dynamodb: Any, settings: Settings) -> None:
    # Given 150 licence buyers (more than one BatchGetItem takes): without events, activated by a licence event, and
    # activated by a renewal found only through the agreement it replaced (a second round of reads)
    repository = DynamoCustomerRepository(dynamodb, settings.customers_table)
    lifecycle = DynamoLifecycleStore(dynamodb, settings.customers_table)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    refs = []
    for n in range(150):
        licence = f"l-{n:032x}"
        ref = CustomerRef("prod1", license_arn=f"arn:aws:license-manager::123456789012:license:{licence}")
        repository.put(
            Customer(
                ref, "123456789012", SubscriptionState.PENDING, start, agreement_id=f"agmt-{n}", registered_at=start
            )
        )
        refs.append(ref)
        if n % 3 == 1:
            lifecycle.record(licence_subject(licence), LifecycleKind.ACTIVATED, start + timedelta(hours=1))
        if n % 3 == 2:
            lifecycle.link(agreement_subject(f"agmt-{n}"), f"renewal-{n}")
            lifecycle.record(agreement_subject(f"renewal-{n}"), LifecycleKind.ACTIVATED, start + timedelta(days=2))
    unknown = CustomerRef("prod1", customer_identifier="nobody")
    other_product = CustomerRef("prod2", license_arn=refs[0].license_arn)  # the same key as refs[0]
    # When they are read together, and one by one
    together = repository.get_many([*refs, unknown, other_product])
    alone = {ref: repository.get(ref) for ref in [*refs, unknown, other_product]}
    # Then each reads the same, and the lifecycles really differ (the renewal's activation found through its link)
    assert together == alone
    states = Counter(c.state for c in together.values() if c is not None)
    assert states == {SubscriptionState.PENDING: 51, SubscriptionState.ACTIVE: 100}  # refs[0] twice: other_product


def test_a_legacy_buyer_back_and_leaving_again_keeps_their_second_subscriptions_start(
    dynamodb: Any, settings: Settings
) -> None:
    # Given a legacy buyer subscribed at 09, gone at 10, back at 12 before that leave's unsubscribe-success (13), and
    # leaving again at 14 (simulator seed 189228), their events kept by DynamoDB Local
    repository = DynamoCustomerRepository(dynamodb, settings.customers_table)
    lifecycle = DynamoLifecycleStore(dynamodb, settings.customers_table)
    ref = CustomerRef("prod1", customer_identifier="back-twice")
    at = datetime(2026, 11, 26, tzinfo=UTC)
    repository.put(Customer(ref, "123456789012", SubscriptionState.PENDING, at, registered_at=at))
    for kind, hour in (
        (LifecycleKind.ACTIVATED, 9),
        (LifecycleKind.ENDING, 10),
        (LifecycleKind.ACTIVATED, 12),
        (LifecycleKind.ENDED, 13),
        (LifecycleKind.ENDING, 14),
    ):
        lifecycle.record(legacy_subject("prod1", "back-twice"), kind, at + timedelta(hours=hour))
    # Then their subscription started at 12, not 09: usage of 10-12 is not theirs
    customer = repository.get(ref)
    assert customer is not None
    assert (customer.subscribed_at, customer.state) == (at + timedelta(hours=12), SubscriptionState.ENDING)


def test_a_legacy_buyers_unheard_return_is_read_from_their_events_and_never_stored(
    dynamodb: Any, settings: Settings
) -> None:
    # Given a legacy buyer subscribed at 08, gone at 09 (ended at 10), back at 12 with that subscribe-success still on
    # its way, and leaving again at 13 (attack 74), their events kept by DynamoDB Local
    repository = DynamoCustomerRepository(dynamodb, settings.customers_table)
    lifecycle = DynamoLifecycleStore(dynamodb, settings.customers_table)
    ref = CustomerRef("prod1", customer_identifier="back-unheard")
    at = datetime(2026, 11, 26, tzinfo=UTC)
    repository.put(Customer(ref, "123456789012", SubscriptionState.PENDING, at, registered_at=at + timedelta(hours=8)))
    subject = legacy_subject("prod1", "back-unheard")
    for kind, hour in ((LifecycleKind.ACTIVATED, 8), (LifecycleKind.ENDING, 9), (LifecycleKind.ENDED, 10)):
        lifecycle.record(subject, kind, at + timedelta(hours=hour))
    lifecycle.record(subject, LifecycleKind.ENDING, at + timedelta(hours=13))
    # Then every read (one, several, a scan) has the start unheard, after 09 and by 13
    read = repository.get(ref)
    assert read is not None
    bounds = (read.subscribed_at, read.subscribed_after, read.subscribed_by)
    assert bounds == (None, at + timedelta(hours=9), at + timedelta(hours=13))
    # their subscription before: from 08 to an hour after its leave at 09
    assert read.earlier_terms == ((at + timedelta(hours=8), at + timedelta(hours=10)),)
    assert repository.get_many([ref])[ref] == read
    assert [c for c in repository.list_all() if c.ref == ref] == [read]
    # and what is derived is not stored: the customer written back as read reads the same, and once the
    # subscribe-success of 12 comes, their start is its time
    repository.put(read)
    assert repository.get(ref) == read
    lifecycle.record(subject, LifecycleKind.ACTIVATED, at + timedelta(hours=12))
    later = repository.get(ref)
    assert later is not None
    assert (later.subscribed_at, later.subscribed_after, later.subscribed_by) == (at + timedelta(hours=12), None, None)
    assert later.earlier_terms == read.earlier_terms


def test_an_agreements_deprovisionings_are_kept_each_once_beside_its_times(dynamodb: Any, settings: Settings) -> None:
    lifecycle = DynamoLifecycleStore(dynamodb, settings.customers_table)
    subject = agreement_subject("agmt-deprovisioned-1")
    created, first, second = (datetime(2026, 11, 26, hour, tzinfo=UTC) for hour in (9, 11, 12))
    lifecycle.record(subject, LifecycleKind.ACTIVATED, created)
    for at in (second, first, second):  # out of order, and once again
        lifecycle.record_deprovision(subject, at)
    times = lifecycle.read([subject])[subject].times
    assert times.deprovisioned_times == {first, second}
    assert times.activated == created
    assert times.ending is None  # the licence's ending, not the agreement's
    assert lifecycle.read([agreement_subject("agmt-other")]) == {}


def test_each_agreement_keeps_when_a_registration_first_linked_it(dynamodb: Any, settings: Settings) -> None:
    # Given a buyer registered with agmt-1 at 10:00, again with it at 10:30, then with agmt-2 at 11:00 and 11:30
    repository = DynamoCustomerRepository(dynamodb, settings.customers_table)
    ref = CustomerRef("prod1", license_arn="arn:aws:license-manager::123456789012:license:l-linked")
    at = datetime(2026, 11, 26, 10, tzinfo=UTC)

    def register(agreement_id: str, minutes: int) -> Customer:
        now = at + timedelta(minutes=minutes)
        registration = Customer(
            ref, "123456789012", SubscriptionState.PENDING, now, now, agreement_id=agreement_id, agreement_linked_at=now
        )
        return repository.upsert_registration(registration, f"n{minutes}")

    # Then each registration reads the first time its agreement was linked, and the registration time stays the first
    assert register("agmt-1", 0).agreement_linked_at == at
    assert register("agmt-1", 30).agreement_linked_at == at
    assert register("agmt-2", 60).agreement_linked_at == at + timedelta(minutes=60)
    again = register("agmt-2", 90)
    assert (again.agreement_id, again.agreement_linked_at, again.registered_at) == (
        "agmt-2",
        at + timedelta(minutes=60),
        at,
    )
    stored = repository.get(ref)
    assert stored is not None
    assert stored.agreement_linked_at == at + timedelta(minutes=60)
