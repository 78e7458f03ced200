"""Buyers subscribed in the emulator and registered with us, active since before the hours a test meters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from local.marketplace.testing import EmulatorHandle

SUBSCRIBED_AT = "2026-11-25T00:00:00Z"


def active_buyers(
    marketplace: EmulatorHandle,
    customers: DynamoCustomerRepository,
    product_code: str,
    accounts: list[str],
    since: datetime,
) -> list[dict[str, Any]]:
    """Each account subscribed to ``product_code`` (a licence product) and stored active since ``since``: the
    emulator's subscriptions, in the accounts' order."""
    subscriptions = []
    for account in accounts:
        sub = marketplace.admin.subscribe(product_code, account, start_time=SUBSCRIBED_AT)
        subscriptions.append(sub)
        customers.put(
            Customer(
                ref=CustomerRef(product_code, license_arn=sub["license_arn"]),
                customer_aws_account_id=account,
                state=SubscriptionState.ACTIVE,
                state_changed_at=since,
                agreement_id=sub["agreement_id"],
            )
        )
    return subscriptions
