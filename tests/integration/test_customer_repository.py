from datetime import UTC, datetime
from typing import Any

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
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
        contact={"email": "a@example.com"},
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
