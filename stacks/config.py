"""The seller's configuration (cdk.json context key ``marketplace``), validated at synth with clear errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from functions.settings import InvalidField, Product


class ConfigError(ValueError):
    """The configuration is invalid; the message names each bad field."""


class AppConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack_name: str = Field(default="MarketplaceMetering", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    # the main stack's Region; outside us-east-1 a small us-east-1 stack forwards Marketplace's events to it
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    products: tuple[Product, ...] = Field(min_length=1)
    flush_schedule: str = Field(default="rate(1 hour)", pattern=r"^(rate|cron)\(.+\)$")
    flush_grace_seconds: int = Field(default=300, ge=0, le=3600)
    metering_calls_per_second: float = Field(default=10, gt=0, le=10)
    audit_retention_days: int = Field(default=400, ge=1, le=3650)
    log_retention_days: int = Field(default=90, ge=1)
    notification_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # put AWS WAF (managed rule groups, per-IP rate limit) in front of the API
    waf: bool = False
    # alarm when unsent usage is older than this: Marketplace refuses records older than 24 hours
    oldest_unsent_alarm_hours: float = Field(default=6, gt=0, lt=24)

    @field_validator("products")
    @classmethod
    def _unique_codes(cls, products: tuple[Product, ...]) -> tuple[Product, ...]:
        codes = [p.code for p in products]
        if len(codes) != len(set(codes)):
            raise ValueError("product codes must be unique")
        return products


def load_config(context: Any) -> AppConfig:
    if not isinstance(context, dict):
        raise ConfigError("cdk.json context 'marketplace' is missing or not an object")
    try:
        return AppConfig.model_validate(context)
    except ValidationError as error:
        errors = error.errors()
        # a list whose items failed is also reported as too short; the items' own errors say more
        failed_within = {e["loc"][:depth] for e in errors for depth in range(1, len(e["loc"]))}
        problems = "\n".join(
            _problem(e) for e in errors if not (e["type"] == "too_short" and e["loc"] in failed_within)
        )
        raise ConfigError(f"invalid cdk.json context 'marketplace':\n{problems}") from error


def _problem(error: Any) -> str:
    location, message = [str(part) for part in error["loc"]], error["msg"]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InvalidField):  # a rule of functions.settings: it names the field below the location
        location, message = [*location, cause.field], cause.problem
    return f"  marketplace.{'.'.join(location)}: {message}"
