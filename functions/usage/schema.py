"""The wire shape of usage events (``POST /usage`` bodies and ``record_usage`` arguments), checked field by field."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from functions.usage.model import DECIMAL_QUANTITY, MAX_INTEGER_QUANTITY

MAX_EVENTS = 100
MAX_ALLOCATIONS = 100
_TAG = r"^[a-zA-Z0-9+ -=._:\/@]+$"

TagKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_TAG)]
TagValue = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=_TAG)]
# the string form is checked by ``_check_decimal`` (its message is clearer than a pattern's); the schema says so too
Quantity = (
    Annotated[StrictInt, Field(ge=0, le=MAX_INTEGER_QUANTITY)]
    | Annotated[str, WithJsonSchema({"type": "string", "pattern": DECIMAL_QUANTITY.pattern})]
)
# BatchMeterUsage's own LicenseArn pattern (botocore's model): ASCII, so our keys stay within DynamoDB's byte limits
_LICENSE_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}"
    r":[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$"
)
_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:\d{2})$")
_TIMESTAMP_FORMAT = "must be an ISO 8601 date-time with a time zone, e.g. 2026-11-26T10:15:00Z"


def _iso_8601(value: Any) -> Any:
    """The contract's one timestamp format: not epoch seconds, milliseconds or floats, which pydantic would guess at.
    In-process producers may pass an aware datetime."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_8601.fullmatch(value):
        raise ValueError(_TIMESTAMP_FORMAT)
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_8601),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _ISO_8601.pattern}),
]


def _check_decimal(value: StrictInt | str) -> StrictInt | str:
    if isinstance(value, str) and not DECIMAL_QUANTITY.fullmatch(value):
        raise ValueError("must be a whole number 0..2147483647 or a decimal string like '12.5' (at most 6 decimals)")
    return value


class AllocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: dict[TagKey, TagValue] = Field(max_length=5)
    quantity: Quantity

    _quantity = field_validator("quantity")(_check_decimal)


class UsageEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/+=@-]+$")
    product_code: str = Field(min_length=1, max_length=255)
    dimension: str = Field(min_length=1, max_length=255)
    quantity: Quantity
    license_arn: str | None = Field(
        default=None, min_length=1, max_length=512, json_schema_extra={"pattern": _LICENSE_ARN.pattern}
    )
    customer_aws_account_id: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    customer_identifier: str | None = Field(default=None, min_length=1, max_length=255)
    # required: an event's identity holds whatever its timestamp, but without one a resend could not be told apart
    # from new usage in another hour (AWS's own UsageRecord requires Timestamp too)
    timestamp: Timestamp
    allocations: tuple[AllocationIn, ...] | None = Field(default=None, min_length=1, max_length=MAX_ALLOCATIONS)

    _quantity = field_validator("quantity")(_check_decimal)

    @field_validator("license_arn")
    @classmethod
    def _licence(cls, value: str | None) -> str | None:
        if value is not None and not _LICENSE_ARN.fullmatch(value):
            raise ValueError("must be the buyer's LicenseArn, as ResolveCustomer returned it (arn:aws:...)")
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-26T10:15:00Z")
        try:
            value.astimezone(UTC)  # every rule reads it in UTC (its hour, the window)
        except OverflowError:
            raise ValueError("is outside the calendar in UTC (years 1 to 9999)") from None
        return value

    @model_validator(mode="after")
    def _one_customer_naming(self) -> UsageEventIn:
        licence = self.license_arn is not None or self.customer_aws_account_id is not None
        if licence == (self.customer_identifier is not None):
            raise ValueError("name the customer by license_arn + customer_aws_account_id, or by customer_identifier")
        if licence and (self.license_arn is None or self.customer_aws_account_id is None):
            raise ValueError("license_arn and customer_aws_account_id go together")
        return self


class UsageBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: tuple[UsageEventIn, ...] = Field(min_length=1, max_length=MAX_EVENTS)
