"""Typed settings: the one place that reads the environment, at call time and never at import."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class Dimension(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    # integer dimensions are sent as Quantity, decimal ones as QuantityAsDecimal
    quantity_type: Literal["integer", "decimal"] = "integer"


class Product(BaseModel):
    """A Marketplace SaaS product as the seller configured it (cdk.json context, or PRODUCTS locally)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # the Metering API's own ProductCode pattern
    code: str = Field(min_length=1, max_length=255, pattern=r"^[-a-zA-Z0-9/=:_.@]+$")
    id: str = Field(default="", max_length=255)
    name: str = Field(min_length=1, max_length=200)
    dimensions: tuple[Dimension, ...] = Field(min_length=1)
    customer_mode: Literal["license", "legacy"] = "license"
    zero_usage_records: bool = False
    signup_redirect_url: str | None = None
    # contract pricing: License Updated means the entitlements changed, so GetEntitlements is called
    pricing: Literal["usage", "contract"] = "usage"
    # an older listing that still notifies through its SNS topics (aws-mp-*-notification-<code>)
    legacy_sns: bool = False

    @field_validator("dimensions")
    @classmethod
    def _unique_dimensions(cls, dimensions: tuple[Dimension, ...]) -> tuple[Dimension, ...]:
        names = [d.name for d in dimensions]
        if len(names) != len(set(names)):
            raise ValueError("dimension names must be unique")
        return dimensions

    def dimension(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str = "us-east-1"
    customers_table: str = "customers"
    usage_table: str = "usage"
    metering_table: str = "metering"
    idempotency_table: str = "idempotency"
    products: tuple[Product, ...] = ()
    event_bus_name: str | None = None
    # loopback stand-ins: set locally and in tests, unset in AWS
    dynamodb_endpoint: str | None = None
    marketplace_endpoint: str | None = None
    entitlement_endpoint: str | None = None
    lambda_endpoint: str | None = None
    sqs_endpoint: str | None = None
    # local only: a file holding the clock offset in seconds (see functions.clock.app_clock)
    clock_file: str | None = None
    # flush
    flush_grace_seconds: int = Field(default=300, ge=0, le=3600)
    metering_calls_per_second: Decimal = Field(default=Decimal(10), gt=0, le=10)
    audit_retention_days: int = Field(default=400, ge=1)
    # usage partitions per hour; the flush reads this many, so change it only with no unsealed hour left
    usage_shards: int = Field(default=16, ge=1, le=256)
    # registration
    signing_secret: str | None = Field(default=None, repr=False)
    signing_secret_arn: str | None = None
    completion_ttl_seconds: int = Field(default=3600, ge=60)
    # lifecycle: the queue the final-usage step is scheduled on, and how long after the cutoff it runs (must cover
    # usage writes still in flight, i.e. at least functions.usage.model.IN_FLIGHT_MARGIN, in AWS)
    lifecycle_queue_url: str | None = None
    final_usage_delay_seconds: int = Field(default=90, ge=0, le=900)

    def product(self, code: str) -> Product | None:
        return next((p for p in self.products if p.code == code), None)


class SettingsError(RuntimeError):
    """The environment does not describe a valid configuration; the message names the variable."""


_ENV_NAMES = {
    "region": "AWS_REGION",
    "customers_table": "CUSTOMERS_TABLE",
    "usage_table": "USAGE_TABLE",
    "metering_table": "METERING_TABLE",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "products": "PRODUCTS",
    "event_bus_name": "EVENT_BUS_NAME",
    "dynamodb_endpoint": "DYNAMODB_ENDPOINT",
    "marketplace_endpoint": "MARKETPLACE_ENDPOINT",
    "entitlement_endpoint": "ENTITLEMENT_ENDPOINT",
    "lambda_endpoint": "LAMBDA_ENDPOINT",
    "sqs_endpoint": "SQS_ENDPOINT",
    "clock_file": "CLOCK_FILE",
    "flush_grace_seconds": "FLUSH_GRACE_SECONDS",
    "metering_calls_per_second": "METERING_CALLS_PER_SECOND",
    "audit_retention_days": "AUDIT_RETENTION_DAYS",
    "usage_shards": "USAGE_SHARDS",
    "signing_secret": "SIGNING_SECRET",
    "signing_secret_arn": "SIGNING_SECRET_ARN",
    "completion_ttl_seconds": "COMPLETION_TTL_SECONDS",
    "lifecycle_queue_url": "LIFECYCLE_QUEUE_URL",
    "final_usage_delay_seconds": "FINAL_USAGE_DELAY_SECONDS",
}
_JSON_FIELDS = {"products"}


def settings_from_env(environ: Mapping[str, str]) -> Settings:
    values: dict[str, object] = {}
    for field, variable in _ENV_NAMES.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            values[field] = json.loads(raw) if field in _JSON_FIELDS else raw
        except json.JSONDecodeError as error:
            raise SettingsError(f"{variable} is not valid JSON: {error}") from error
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{_ENV_NAMES.get(str(e['loc'][0]), e['loc'][0])}{''.join(f'[{p}]' for p in e['loc'][1:])}: {e['msg']}"
            for e in error.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from error


@cache
def get_settings() -> Settings:
    """Settings of this process, read once on first use (a Lambda's environment does not change)."""
    return settings_from_env(os.environ)
