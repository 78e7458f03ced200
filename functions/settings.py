"""Typed settings: the one place that reads the environment, at call time and never at import.

Plain frozen dataclasses rather than pydantic models: every function builds them on every cold start, and
pydantic's model machinery alone costs about half an ``import boto3`` (bench/cold_start.py). The rules live in
``__post_init__``; at synth, stacks/config.py validates the seller's products through these same classes with
pydantic, so a configuration that deploys is one these checks accept.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import Field, asdict, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal, get_args

QuantityType = Literal["integer", "decimal"]
CustomerMode = Literal["license", "legacy"]
Pricing = Literal["usage", "contract"]
ContactKind = Literal["text", "email", "tel"]

# the Metering API's own ProductCode pattern
_PRODUCT_CODE = re.compile(r"^[-a-zA-Z0-9/=:_.@]+$")
_STAGE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
# an AWS Region's name (eu-west-1): cdk.json's `region` and `regions`, and the local stacks, check it too
REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
# how often another metering Region looks for the main Region's final-usage requests (stacks/constructs/flush.py)
FINAL_USAGE_REQUESTS_EVERY_MINUTES = 5
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# the onboarding form's own hidden field
_RESERVED_FIELD_NAMES = frozenset({"registration"})
MAX_CONTACT_FIELDS = 10
MAX_CONTACT_FIELD_LENGTH = 1000
# BatchMeterUsage's quota is 10 calls/s per account and Region; AWS raises it on request, so the client-side rate may
# be set up to what was granted (and no higher than this, a bound on the flush's threads)
MAX_METERING_CALLS_PER_SECOND = 200
# one call a minute: a flush run waits at most its last minute for a slot (functions.flush.sender.Sender), and a slower
# rate had every run give its slot up and continue into the next, the schedule running ahead of the clock (attack 89)
MIN_METERING_CALLS_PER_MINUTE = 1
METERING_MODES = ("live", "dry-run")


class InvalidField(ValueError):
    """One field breaks its rule; ``field`` names it, the message says how."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _text(field: str, value: object, *, min_length: int = 0, max_length: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    if not min_length <= len(value) <= max_length:
        raise InvalidField(field, f"must be {min_length} to {max_length} characters long")


def _redirect_url(field: str, value: str | None) -> None:
    """Where registration sends every buyer's browser with a bearer value: an absolute https URL with a host, no
    credentials, no control characters (plain http for a loopback host only: ``make run``'s own sign-up page)."""
    if not value:
        return
    if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise InvalidField(field, "must not contain spaces or control characters")
    parts = urllib.parse.urlsplit(value)
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidField(field, "must be an absolute https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidField(field, "must not carry credentials (user:password@)")
    if parts.scheme == "http" and not _loopback(host):
        raise InvalidField(field, "must be https:// (plain http only for a loopback host)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidField(field, f"must be one of {', '.join(repr(c) for c in choices)}")


def _flag(field: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidField(field, "must be true or false")


def _whole(field: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(field, "must be a whole number")
    if value < low or (high is not None and value > high):
        raise InvalidField(field, f"must be at least {low}" + (f" and at most {high}" if high is not None else ""))


@dataclass(frozen=True)
class Dimension:
    """A product's usage dimension as the seller configured it."""

    name: str
    # integer dimensions are sent as Quantity, decimal ones as QuantityAsDecimal
    quantity_type: QuantityType = "integer"
    # the listing's price per unit, for the operator's estimates only (private offers differ): "0.01" or 0.01
    price: str | float | None = None
    currency: str = "USD"

    def __post_init__(self) -> None:
        _text("name", self.name, min_length=1, max_length=255)
        _choice("quantity_type", self.quantity_type, get_args(QuantityType))
        if self.price is not None and _unit_price(self.price) is None:
            raise InvalidField("price", 'must be a number of currency units per unit, 0 or more, such as "0.01"')
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise InvalidField("currency", 'must be a three-letter ISO 4217 code, such as "USD"')

    @property
    def unit_price(self) -> Decimal | None:
        return None if self.price is None else _unit_price(self.price)


def _unit_price(value: object) -> Decimal | None:
    """``value`` as a finite Decimal of 0 or more; None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


@dataclass(frozen=True)
class Product:
    """A Marketplace SaaS product as the seller configured it (cdk.json context, or PRODUCTS locally)."""

    code: str
    name: str
    dimensions: tuple[Dimension, ...]
    id: str = ""
    customer_mode: CustomerMode = "license"
    zero_usage_records: bool = False
    signup_redirect_url: str | None = None
    # contract pricing: License Updated means the entitlements changed, so GetEntitlements is called
    pricing: Pricing = "usage"
    # an older listing that still notifies through its SNS topics (aws-mp-*-notification-<code>)
    legacy_sns: bool = False

    def __post_init__(self) -> None:
        _text("code", self.code, min_length=1, max_length=255)
        if not _PRODUCT_CODE.fullmatch(self.code):
            raise InvalidField("code", f"must match {_PRODUCT_CODE.pattern}")
        _text("id", self.id, max_length=255)
        _text("name", self.name, min_length=1, max_length=200)
        if not isinstance(self.dimensions, tuple) or not all(isinstance(d, Dimension) for d in self.dimensions):
            raise InvalidField("dimensions", "must be a list of dimensions")
        if not self.dimensions:
            raise InvalidField("dimensions", "must name at least one dimension")
        names = [d.name for d in self.dimensions]
        if len(names) != len(set(names)):
            raise InvalidField("dimensions", "dimension names must be unique")
        _choice("customer_mode", self.customer_mode, get_args(CustomerMode))
        _flag("zero_usage_records", self.zero_usage_records)
        _text("signup_redirect_url", self.signup_redirect_url, max_length=2048, optional=True)
        _redirect_url("signup_redirect_url", self.signup_redirect_url)
        _choice("pricing", self.pricing, get_args(Pricing))
        _flag("legacy_sns", self.legacy_sns)

    def dimension(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)


@dataclass(frozen=True)
class ContactField:
    """One field of the onboarding form. Only the fields the seller lists are asked for and stored, each at most
    ``max_length`` characters: a buyer's personal data is kept to what the seller chose to need."""

    name: str
    label: str
    required: bool = True
    max_length: int = 200
    # how the value is checked (and the browser's input type): free text, an e-mail address, a phone number
    kind: ContactKind = "text"

    def __post_init__(self) -> None:
        _text("name", self.name, min_length=1, max_length=32)
        if not _FIELD_NAME.fullmatch(self.name) or self.name in _RESERVED_FIELD_NAMES:
            raise InvalidField(
                "name",
                "must be lower-case letters, digits and _, starting with a letter, and not "
                + ", ".join(repr(name) for name in sorted(_RESERVED_FIELD_NAMES)),
            )
        _text("label", self.label, min_length=1, max_length=100)
        _flag("required", self.required)
        _whole("max_length", self.max_length, 1, MAX_CONTACT_FIELD_LENGTH)
        _choice("kind", self.kind, get_args(ContactKind))


DEFAULT_CONTACT_FIELDS = (
    ContactField("company", "Company"),
    ContactField("contact_name", "Contact name"),
    ContactField("email", "Email", max_length=254, kind="email"),
    ContactField("phone", "Phone", required=False, max_length=40, kind="tel"),
)


def product_from_json(document: object) -> Product:
    if not isinstance(document, dict):
        raise ValueError("must be an object")
    listed = document.get("dimensions")
    if not isinstance(listed, list) or not all(isinstance(d, dict) for d in listed):
        raise InvalidField("dimensions", "must be a list of objects")
    try:
        dimensions = []
        for index, dimension in enumerate(listed):
            try:
                dimensions.append(Dimension(**dimension))
            except InvalidField as error:
                raise InvalidField(f"dimensions[{index}].{error.field}", error.problem) from None
        return Product(**{**document, "dimensions": tuple(dimensions)})
    except TypeError as error:  # a key the class does not have, or a required one missing
        raise ValueError(str(error).split("() ", 1)[-1]) from None


def _env(name: str | None = None, *, stack: bool = False) -> dict[str, object]:
    """A field's metadata: its environment variable, if not its upper-cased name; ``stack``: the seller sets it in
    cdk.json (context ``marketplace``, same key) and the stack passes it to every function."""
    return {"env": name, "stack": stack}


@dataclass(frozen=True)
class Settings:
    """Everything a function reads, in one place: each field is one environment variable (its name upper-cased
    unless its metadata says otherwise), parsed by its type and checked in ``__post_init__``. The stack, ``make run``
    and the tests write the environment from these same fields (``settings_environment``); a field marked ``stack``
    is also a cdk.json key, validated at synth by this same class."""

    region: str = field(default="us-east-1", metadata=_env("AWS_REGION"))
    customers_table: str = "customers"
    contacts_table: str = "contacts"
    usage_table: str = "usage"
    metering_table: str = "metering"
    idempotency_table: str = "idempotency"
    products: tuple[Product, ...] = field(default=(), metadata=_env(stack=True))
    # a stage (cdk.json, or `cdk deploy --context stage=beta`) is its own stack, "<stack_name>-<stage>", beside the
    # others in one account, its metrics tagged with it; any stage but "prod" meters dry-run unless it says "live"
    stage: str | None = field(default=None, metadata=_env(stack=True))
    # the onboarding form's fields: only these are asked for and stored (in the contacts table)
    contact_fields: tuple[ContactField, ...] = field(default=DEFAULT_CONTACT_FIELDS, metadata=_env(stack=True))
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
    flush_grace_seconds: int = field(default=300, metadata=_env(stack=True))
    metering_calls_per_second: Decimal = field(default=Decimal(10), metadata=_env(stack=True))
    # live: BatchMeterUsage bills; dry-run: the flush does everything else and records what it would have sent
    metering_mode: str = field(default="live", metadata=_env(stack=True))
    audit_retention_days: int = field(default=400, metadata=_env(stack=True))
    # usage partitions per hour; the flush reads this many, so change it only with no unsealed hour left
    usage_shards: int = 16
    # registration
    signing_secret: str | None = field(default=None, repr=False)
    signing_secret_arn: str | None = None
    completion_ttl_seconds: int = 3600
    # lifecycle: the queue the final-usage step is scheduled on, and how long after the cutoff it runs (must cover
    # usage writes still in flight, i.e. at least functions.customers.model.IN_FLIGHT_MARGIN, in AWS)
    lifecycle_queue_url: str | None = None
    final_usage_delay_seconds: int = field(default=90, metadata=_env(stack=True))
    # how long into a leaving buyer's final hour their usage is still taken: the rest of the hour is for sending it
    # (with the delay above and retries) before Marketplace stops accepting it
    final_usage_cutoff_seconds: int = field(default=2700, metadata=_env(stack=True))
    # the other Regions that meter (cdk.json `regions`): a leaving buyer's final usage is asked of each of them too
    other_metering_regions: tuple[str, ...] = ()
    # the customers table is a replica (another metering Region's stack): a buyer registered a second ago in the main
    # Region may not be in it yet (functions.customers.replicas)
    customers_replica: bool = False

    def __post_init__(self) -> None:
        _whole("flush_grace_seconds", self.flush_grace_seconds, 0, 3600)
        rate = self.metering_calls_per_second
        if not isinstance(rate, Decimal) and isinstance(rate, int | float) and not isinstance(rate, bool):
            rate = Decimal(str(rate))  # a JSON number from cdk.json: exact from here on
            object.__setattr__(self, "metering_calls_per_second", rate)
        if (
            not isinstance(rate, Decimal)
            or not rate.is_finite()
            or not rate * 60 >= MIN_METERING_CALLS_PER_MINUTE
            or rate > MAX_METERING_CALLS_PER_SECOND
        ):
            raise InvalidField(
                "metering_calls_per_second",
                "must be a number of at least one call a minute (0.0167 or more) and at most "
                f"{MAX_METERING_CALLS_PER_SECOND} (the quota AWS granted you; "
                "10 unless raised)",
            )
        if self.stage is not None and not _STAGE.fullmatch(str(self.stage)):
            raise InvalidField("stage", "must be 1 to 16 lower-case letters and digits, starting with a letter")
        _choice("metering_mode", self.metering_mode, METERING_MODES)
        # a usage event must outlive its identity (functions.usage.model.IDENTITY_LIFETIME, 32 hours after the hour
        # that bills it, at most 33 after the event was received): an identity whose event had expired took an
        # identical resend as a first send that never landed, and billed it again (review 27)
        _whole("audit_retention_days", self.audit_retention_days, 2, 3650)
        _whole("usage_shards", self.usage_shards, 1, 256)
        _whole("completion_ttl_seconds", self.completion_ttl_seconds, 60)
        _whole("final_usage_delay_seconds", self.final_usage_delay_seconds, 0, 900)
        _whole("final_usage_cutoff_seconds", self.final_usage_cutoff_seconds, 0, 3300)
        if not isinstance(self.products, tuple) or not all(isinstance(p, Product) for p in self.products):
            raise InvalidField("products", "must be a list of products")
        codes = [p.code for p in self.products]
        if len(codes) != len(set(codes)):
            raise InvalidField("products", "product codes must be unique")
        regions = self.other_metering_regions
        if not isinstance(regions, tuple) or not all(isinstance(r, str) and REGION_NAME.fullmatch(r) for r in regions):
            raise InvalidField("other_metering_regions", "must be Region names such as eu-west-1, comma-separated")
        contact_fields = self.contact_fields
        if not isinstance(contact_fields, tuple) or not all(isinstance(f, ContactField) for f in contact_fields):
            raise InvalidField("contact_fields", "must be a list of fields")
        if not 1 <= len(contact_fields) <= MAX_CONTACT_FIELDS:
            raise InvalidField("contact_fields", f"must list 1 to {MAX_CONTACT_FIELDS} fields")
        names = [f.name for f in contact_fields]
        if len(names) != len(set(names)):
            raise InvalidField("contact_fields", "field names must be unique")

    def product(self, code: str) -> Product | None:
        return next((p for p in self.products if p.code == code), None)

    @property
    def bills(self) -> bool:
        """Metering live (BatchMeterUsage billed); in dry run nothing is billed."""
        return self.metering_mode == "live"


class SettingsError(RuntimeError):
    """The environment does not describe a valid configuration; the message names the variable."""


def env_name(setting: Field[Any]) -> str:
    return str(setting.metadata.get("env") or setting.name.upper())


STACK_SETTINGS = tuple(f.name for f in fields(Settings) if f.metadata.get("stack"))


def _products(raw: str) -> tuple[Product, ...]:
    try:
        documents = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not valid JSON: {error}") from error
    if not isinstance(documents, list):
        raise ValueError("must be a JSON list of products")
    products = []
    for index, document in enumerate(documents):
        try:
            products.append(product_from_json(document))
        except ValueError as error:
            raise ValueError(f"[{index}]: {error}") from error
    return tuple(products)


def _contact_fields(raw: str) -> tuple[ContactField, ...]:
    try:
        documents = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not valid JSON: {error}") from error
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        raise ValueError("must be a JSON list of fields")
    listed = []
    for index, document in enumerate(documents):
        try:
            listed.append(ContactField(**document))
        except InvalidField as error:
            raise ValueError(f"[{index}].{error.field}: {error.problem}") from None
        except TypeError as error:  # a key the class does not have, or a required one missing
            raise ValueError(f"[{index}]: {str(error).split('() ', 1)[-1]}") from None
    return tuple(listed)


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"must be a whole number, not {raw!r}") from None


def _decimal(raw: str) -> Decimal:
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"must be a number, not {raw!r}") from None


# how each type of field is read from its variable, and written to it
_PARSERS: dict[str, Callable[[str], object]] = {
    "bool": lambda raw: _flag_text(raw),
    "int": _integer,
    "Decimal": _decimal,
    "tuple[Product, ...]": _products,
    "tuple[ContactField, ...]": _contact_fields,
    "tuple[str, ...]": lambda raw: tuple(part.strip() for part in raw.split(",") if part.strip()),
}


def _flag_text(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError("must be true or false")
    return raw == "true"


def _env_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):  # Regions
        return ",".join(value)
    if isinstance(value, tuple):  # the products, the contact fields
        return json.dumps([asdict(p) for p in value])
    return str(value)


def settings_from_env(environ: Mapping[str, str]) -> Settings:
    values: dict[str, Any] = {}
    for setting in fields(Settings):
        raw = environ.get(env_name(setting))
        if raw is None or raw == "":
            continue
        try:
            values[setting.name] = _PARSERS.get(str(setting.type), str)(raw)
        except ValueError as error:
            message = str(error)
            separator = "" if message.startswith("[") else ": "
            raise SettingsError(f"invalid configuration: {env_name(setting)}{separator}{message}") from error
    try:
        return Settings(**values)
    except InvalidField as error:
        variable = next(env_name(f) for f in fields(Settings) if f.name == error.field.split("[")[0].split(".")[0])
        raise SettingsError(f"invalid configuration: {variable}: {error.problem}") from None


def settings_environment(settings: Settings, *, only: Iterable[str] | None = None) -> dict[str, str]:
    """The environment that ``settings_from_env`` reads back as ``settings`` (every field set, or the ``only`` ones):
    what the stack gives its functions, ``make run`` its handlers and the tests theirs."""
    chosen = set(only) if only is not None else {f.name for f in fields(Settings)}
    return {
        env_name(f): _env_text(value)
        for f in fields(Settings)
        if f.name in chosen and (value := getattr(settings, f.name)) is not None
    }


@cache
def get_settings() -> Settings:
    """Settings of this process, read once on first use (a Lambda's environment does not change)."""
    return settings_from_env(os.environ)
