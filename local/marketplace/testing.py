"""Pytest-agnostic helpers for code that tests against the emulator.

    server = start_emulator()            # once per session
    env = fresh_world(server)            # per test: reset world, faults, config, clock
    url, admin = env                     # unpacks like a tuple
    sub = env.subscribe_buyer()          # a licence-mode product + confirmed subscription
    env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 3)])

boto3 clients are created unmodified, pointed at the emulator with dummy credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from .admin_client import AdminClient
from .server import EmulatorServer

SELLER_ACCESS_KEY = "AKIAEMULATORSELLER01"
# Dummy: the emulator never checks signatures, and nothing here can reach AWS.
SECRET_KEY = "emulator-secret"  # noqa: S105
TEST_PRODUCT_CODE = "test-saas-product"
TEST_DIMENSIONS = ["api_calls", "storage_gb"]
TEST_BUYER = "111122223333"


def start_emulator(state_file: str | None = None) -> EmulatorServer:
    """Start an in-process emulator on a free loopback port; call ``stop()`` when done."""
    return EmulatorServer(port=0, state_file=state_file).start()


def aws_client(
    service: str,
    url: str,
    access_key_id: str = SELLER_ACCESS_KEY,
    region: str = "us-east-1",
    max_attempts: int | None = None,
    parameter_validation: bool = True,
) -> Any:
    """An unmodified boto3 client for ``meteringmarketplace``, ``marketplace-entitlement``, ``marketplace-agreement``
    or ``cloudtrail`` (LookupEvents over the calls the emulator received).

    ``max_attempts`` is botocore's total attempts (1 = no retries), handy to observe a single error.
    """
    retries: dict[str, Any] = {"mode": "standard"}
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    config = Config(retries=retries, parameter_validation=parameter_validation)
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=SECRET_KEY,
        config=config,
    )


def usage_record(
    subscription: dict[str, Any],
    dimension: str,
    quantity: int | str | None = None,
    timestamp: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A UsageRecord for a subscription as returned by the admin API, in the right customer mode.

    An int quantity goes in ``Quantity``, a str in ``QuantityAsDecimal``.
    """
    record: dict[str, Any] = {"Timestamp": timestamp or datetime.now(UTC), "Dimension": dimension}
    if subscription.get("customer_mode") == "legacy":
        record["CustomerIdentifier"] = subscription["customer_identifier"]
    else:
        record["CustomerAWSAccountId"] = subscription["account_id"]
        record["LicenseArn"] = subscription["license_arn"]
    if isinstance(quantity, str):
        record["QuantityAsDecimal"] = quantity
    elif quantity is not None:
        record["Quantity"] = quantity
    record.update(extra)
    return record


@dataclass
class EmulatorHandle:
    """What a test gets: the endpoint URL and an admin client (unpack as ``url, admin = handle``)."""

    url: str
    admin: AdminClient

    def __iter__(self) -> Iterator[Any]:
        yield self.url
        yield self.admin

    def metering(self, **kwargs: Any) -> Any:
        return aws_client("meteringmarketplace", self.url, **kwargs)

    def entitlement(self, **kwargs: Any) -> Any:
        return aws_client("marketplace-entitlement", self.url, **kwargs)

    def agreement(self, **kwargs: Any) -> Any:
        return aws_client("marketplace-agreement", self.url, **kwargs)

    def cloudtrail(self, **kwargs: Any) -> Any:
        return aws_client("cloudtrail", self.url, **kwargs)

    def product(
        self, code: str = TEST_PRODUCT_CODE, dimensions: list[str] | None = None, **fields: Any
    ) -> dict[str, Any]:
        existing = {p["code"]: p for p in self.admin.list_products()}
        if code in existing:
            return existing[code]
        return self.admin.create_product(code, dimensions or list(TEST_DIMENSIONS), **fields)

    def subscribe_buyer(
        self, account_id: str = TEST_BUYER, product_code: str = TEST_PRODUCT_CODE, **fields: Any
    ) -> dict[str, Any]:
        """Ensure the product exists (licence mode unless it already exists) and subscribe the buyer."""
        self.product(product_code)
        return self.admin.subscribe(product_code, account_id, **fields)


def fresh_world(server_or_url: EmulatorServer | str) -> EmulatorHandle:
    """Reset the emulator behind ``server_or_url`` to an empty world and return a handle on it."""
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
    admin = AdminClient(url)
    admin.reset()
    return EmulatorHandle(url=url, admin=admin)
