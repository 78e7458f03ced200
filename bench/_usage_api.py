"""The usage API handler as Lambda runs it, configured through its environment against DynamoDB Local."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Dimension, Product, Settings, get_settings
from local.apigateway import LambdaContext, proxy_event

PRODUCT = Product(
    code="bench-usage-product",
    name="Bench usage",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)
ACCOUNT = "210987654321"


def license_of(n: int) -> str:
    return f"arn:aws:license-manager::{ACCOUNT}:license:l-bench{n:05d}"


def add_customers(client: Any, settings: Settings, count: int) -> None:
    customers = DynamoCustomerRepository(client, settings.customers_table)
    for n in range(count):
        customers.put(
            Customer(
                CustomerRef(PRODUCT.code, license_arn=license_of(n)),
                ACCOUNT,
                SubscriptionState.ACTIVE,
                datetime(2026, 1, 1, tzinfo=UTC),
            )
        )


def usage_event(event_id: str, customer: int, timestamp: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "product_code": PRODUCT.code,
        "license_arn": license_of(customer),
        "customer_aws_account_id": ACCOUNT,
        "dimension": "api_calls",
        "quantity": 1 + customer % 7,
        "timestamp": timestamp.isoformat(),
    }


def post_usage_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    return proxy_event(
        "POST",
        "/usage",
        "/usage",
        headers={"Content-Type": ["application/json"]},
        body=json.dumps({"events": events}).encode(),
    )


@contextmanager
def usage_handler(settings: Settings) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """``functions.handlers.usage.handler`` reading ``settings`` from its environment, as deployed."""
    environment = {
        "AWS_REGION": settings.region,
        "CUSTOMERS_TABLE": settings.customers_table,
        "USAGE_TABLE": settings.usage_table,
        "METERING_TABLE": settings.metering_table,
        "IDEMPOTENCY_TABLE": settings.idempotency_table,
        "PRODUCTS": json.dumps([asdict(p) for p in settings.products]),
        "DYNAMODB_ENDPOINT": settings.dynamodb_endpoint or "",
    }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    get_settings.cache_clear()
    # imported once the environment is set, as Lambda does
    from functions.handlers.usage import handler

    context = LambdaContext(function_name="bench-usage")
    try:
        yield lambda event: handler(event, context)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
