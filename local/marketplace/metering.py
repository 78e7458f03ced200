"""The Metering Service rules: ResolveCustomer, BatchMeterUsage, MeterUsage, RegisterUsage.

Input has already passed model validation (see ``model_validation``); what is checked here are the
service's semantic rules. Whole-request problems raise :class:`ApiError` before anything is committed,
because AWS rejects the entire batch when one record is bad.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from .clock import iso, parse_iso
from .errors import ApiError
from .model_validation import Violation, summary
from .operation import METERING, Answer, Caller, Operation, Request
from .world import METERABLE_STATUSES, Product, Subscription, World, pick_current, quantity_key

# Not a secret: RegisterUsage signatures only need to be checkable by tests against this emulator.
SIGNING_KEY = b"aws-marketplace-emulator-register-usage"


def validation_error(violations: list[Violation]) -> ApiError:
    """Turn model violations into the error AWS answers with.

    Tag and allocation constraints have their own modelled exceptions (InvalidTagException "the number
    of tags is greater than 5", InvalidUsageAllocationsException), so those win over the generic
    ValidationException the front end uses for everything else.
    """
    typed = [v for v in violations if v.kind == "type"]
    if typed:
        first = typed[0]
        return ApiError("SerializationException", f"Cannot deserialize value at '{first.path}': {first.message}")
    for violation in violations:
        if ".tags" in violation.path:
            return ApiError("InvalidTagException", violation.render())
    for violation in violations:
        if "usageAllocations" in violation.path:
            return ApiError("InvalidUsageAllocationsException", violation.render())
    return ApiError("ValidationException", summary(violations))


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), UTC)


def hour_of(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def check_timestamp(ts: datetime, now: datetime, window_hours: float, config: dict[str, Any]) -> None:
    tolerance = timedelta(seconds=float(config["future_tolerance_seconds"]))
    if ts > now + tolerance:
        raise ApiError("TimestampOutOfBoundsException", f"Timestamp {iso(ts)} is in the future")
    if now - ts >= timedelta(hours=window_hours):
        raise ApiError(
            "TimestampOutOfBoundsException", f"Timestamp {iso(ts)} is more than {window_hours:g} hours in the past"
        )
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cutoff = month_start + timedelta(hours=float(config["month_end_cutoff_hour"]))
    if ts < month_start and now >= cutoff:
        raise ApiError(
            "TimestampOutOfBoundsException",
            f"Timestamp {iso(ts)} is in the previous billing month, which closed at {iso(cutoff)}",
        )


def check_region_enabled(caller: Caller, config: dict[str, Any]) -> None:
    if caller.region in (config.get("disabled_regions") or []):
        raise ApiError("DisabledApiException", f"The API is disabled in the Region {caller.region}")


def _quantity(item: dict[str, Any], int_key: str, dec_key: str) -> tuple[Decimal, str]:
    if item.get(int_key) is not None and item.get(dec_key) is not None:
        raise ApiError("ValidationException", f"You can't specify both {int_key} and {dec_key}")
    if item.get(dec_key) is not None:
        return Decimal(str(item[dec_key])), "decimal"
    # Neither present means 0 (service model: "Defaults to 0").
    return Decimal(int(item.get(int_key) or 0)), "integer"


def check_allocations(allocations: list[dict[str, Any]] | None, total: Decimal, kind: str) -> list[dict[str, Any]]:
    """Enforce the UsageAllocations rules; returns the allocations normalised for the ledger."""
    if allocations is None:
        return []
    seen: set[frozenset[tuple[str, str]]] = set()
    allocated = Decimal(0)
    normalised: list[dict[str, Any]] = []
    for index, allocation in enumerate(allocations, start=1):
        has_int = allocation.get("AllocatedUsageQuantity") is not None
        has_dec = allocation.get("AllocatedUsageQuantityAsDecimal") is not None
        if has_int == has_dec:
            raise ApiError(
                "InvalidUsageAllocationsException",
                f"Allocation {index} must specify exactly one of AllocatedUsageQuantity or "
                "AllocatedUsageQuantityAsDecimal",
            )
        if (kind == "decimal") != has_dec:
            raise ApiError(
                "InvalidUsageAllocationsException",
                "Allocations must use the same type of quantity as the usage record: "
                "AllocatedUsageQuantity with Quantity, AllocatedUsageQuantityAsDecimal with QuantityAsDecimal",
            )
        amount = (
            Decimal(str(allocation["AllocatedUsageQuantityAsDecimal"]))
            if has_dec
            else Decimal(int(allocation["AllocatedUsageQuantity"]))
        )
        tags = allocation.get("Tags") or []
        keys = [tag["Key"] for tag in tags]
        if len(set(keys)) != len(keys):
            raise ApiError("InvalidTagException", f"Allocation {index} repeats a tag key")
        tag_set = frozenset((tag["Key"], tag["Value"]) for tag in tags)
        if tag_set in seen:
            what = "untagged allocation" if not tag_set else "allocation with the same set of tags"
            raise ApiError("InvalidUsageAllocationsException", f"Allocation {index}: more than one {what}")
        seen.add(tag_set)
        allocated += amount
        normalised.append({"quantity": quantity_key(amount), "tags": dict(sorted(tag_set))})
    if allocated != total:
        raise ApiError(
            "InvalidUsageAllocationsException",
            f"Sum of allocated quantities ({quantity_key(allocated)}) is not equal to the usage quantity "
            f"({quantity_key(total)})",
        )
    return normalised


def _started_hour(world: World, sub: Subscription) -> datetime:
    """The first hour of the licence: a renewal keeps the licence, so its start is the first agreement's."""
    starts = [parse_iso(s.confirmed_at or s.created_at) for s in world.subscriptions_by_license(sub.license_arn)]
    return hour_of(min(starts, default=parse_iso(sub.confirmed_at or sub.created_at)))


# -- ResolveCustomer -------------------------------------------------------------------------------------


def resolve_customer(world: World, now: datetime, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    check_region_enabled(caller, world.config)
    token = world.tokens.get(params["RegistrationToken"])
    if token is None:
        raise ApiError("InvalidTokenException", "Registration token is invalid")
    sub = world.subscriptions.get(token.agreement_id)
    if sub is None or sub.status == "failed":
        raise ApiError("InvalidTokenException", "Registration token is invalid")
    if now >= parse_iso(token.expires_at):
        raise ApiError("ExpiredTokenException", "Registration token has expired")
    if token.used_at is not None and world.config["token_single_use"]:
        # AWS documents resubmission of a token as one of the causes of ExpiredTokenException.
        raise ApiError("ExpiredTokenException", "Registration token has already been used")
    token.used_at = token.used_at or iso(now)
    product = world.products[sub.product_code]
    if product.resolve_customer_shape == "identifier-only":  # the answer before AWS added LicenseArn and Metadata
        return {
            "CustomerIdentifier": sub.customer_identifier,
            "ProductCode": sub.product_code,
            "CustomerAWSAccountId": sub.account_id,
        }
    result: dict[str, Any] = {
        "ProductCode": sub.product_code,
        "CustomerAWSAccountId": sub.account_id,
        "LicenseArn": sub.license_arn,
        "Metadata": {"AgreementId": sub.agreement_id},
    }
    if product.customer_mode == "legacy":
        result["CustomerIdentifier"] = sub.customer_identifier
    return result


# -- BatchMeterUsage -------------------------------------------------------------------------------------


@dataclass
class _Resolved:
    record: dict[str, Any]
    sub: Subscription | None
    ts: datetime
    quantity: Decimal
    allocations: list[dict[str, Any]]


def _batch_product(world: World, records: list[dict[str, Any]], product_code: str | None) -> Product:
    with_license = [r for r in records if r.get("LicenseArn") is not None]
    if product_code is not None and with_license:
        raise ApiError("ValidationException", "Do not specify ProductCode when usage records carry a LicenseArn")
    if product_code is not None:
        product = world.products.get(product_code)
        if product is None:
            raise ApiError("InvalidProductCodeException", f"Product code {product_code} is not valid")
        return product
    if len(with_license) != len(records):
        raise ApiError(
            "ValidationException",
            "ProductCode is required when usage records identify the customer without a LicenseArn",
        )
    sub = world.subscription_by_license(str(records[0]["LicenseArn"]))
    if sub is None:
        raise ApiError("InvalidLicenseException", f"License {records[0]['LicenseArn']} is not valid")
    return world.products[sub.product_code]


def _resolve_customer_of(world: World, product: Product, record: dict[str, Any]) -> Subscription | None:
    """The subscription a record bills, None if the customer is known but not subscribed."""
    identifier = record.get("CustomerIdentifier")
    account = record.get("CustomerAWSAccountId")
    license_arn = record.get("LicenseArn")
    if identifier is not None and (account is not None or license_arn is not None):
        raise ApiError(
            "ValidationException", "Specify either CustomerIdentifier or CustomerAWSAccountId/LicenseArn, not both"
        )
    if identifier is not None:
        if product.customer_mode == "license":
            raise ApiError(
                "InvalidCustomerIdentifierException",
                "CustomerIdentifier is not supported for this product: use CustomerAWSAccountId and LicenseArn",
            )
        subs = world.subscriptions_by_customer_identifier(str(identifier))
        if not subs:
            raise ApiError("InvalidCustomerIdentifierException", f"Customer identifier {identifier} does not exist")
        return pick_current([s for s in subs if s.product_code == product.code])
    if account is None:
        raise ApiError(
            "ValidationException",
            "Each usage record needs CustomerAWSAccountId (with LicenseArn) or CustomerIdentifier",
        )
    if license_arn is None:
        if product.customer_mode == "license":
            raise ApiError("InvalidLicenseException", f"LicenseArn is required to meter product {product.code}")
        return pick_current(world.subscriptions_for(product.code, str(account)))
    sub = world.subscription_by_license(str(license_arn))
    if sub is None:
        raise ApiError("InvalidLicenseException", f"License {license_arn} is not valid")
    if sub.account_id != account:
        raise ApiError("InvalidLicenseException", f"License {license_arn} does not belong to customer {account}")
    if sub.product_code != product.code:
        raise ApiError("InvalidLicenseException", f"License {license_arn} is not for product {product.code}")
    return sub


def batch_meter_usage(
    world: World,
    now: datetime,
    caller: Caller,
    params: dict[str, Any],
    unprocessed: Callable[[], bool],
) -> dict[str, Any]:
    check_region_enabled(caller, world.config)
    records: list[dict[str, Any]] = params["UsageRecords"]
    if not records:
        return {"Results": [], "UnprocessedRecords": []}
    product = _batch_product(world, records, params.get("ProductCode"))
    resolved: list[_Resolved] = []
    for record in records:
        sub = _resolve_customer_of(world, product, record)
        if record["Dimension"] not in product.dimensions:
            raise ApiError(
                "InvalidUsageDimensionException", f"Dimension {record['Dimension']} is not valid for {product.code}"
            )
        ts = _timestamp(record["Timestamp"])
        check_timestamp(ts, now, float(world.config["window_hours"]), world.config)
        if sub is not None and record.get("LicenseArn") is not None and hour_of(ts) < _started_hour(world, sub):
            raise ApiError("InvalidLicenseException", "Usage is before the license activation period")
        quantity, kind = _quantity(record, "Quantity", "QuantityAsDecimal")
        allocations = check_allocations(record.get("UsageAllocations"), quantity, kind)
        resolved.append(_Resolved(record, sub, ts, quantity, allocations))

    results: list[dict[str, Any]] = []
    left_over: list[dict[str, Any]] = []
    for item in resolved:
        # Decided before committing, so an unprocessed record is really absent from the ledger.
        if unprocessed():
            left_over.append(item.record)
            continue
        sub = item.sub
        if sub is None or sub.status not in METERABLE_STATUSES:
            results.append(_result(item.record, str(uuid.uuid4()), "CustomerNotSubscribed"))
            continue
        # Per licence, as AWS dedups: a renewal's new agreement keeps the licence and must not bill an hour twice.
        # And per Region: a seller metering where usage happens bills each Region's hour on its own.
        key = (
            f"batch|{caller.region}|{product.code}|{sub.license_arn}|{item.record['Dimension']}|{iso(hour_of(item.ts))}"
        )
        existing = world.ledger_record_for(key)
        if existing is not None:
            same = Decimal(existing["quantity"]) == item.quantity
            status = "Success" if same else "DuplicateRecord"
            results.append(_result(item.record, existing["metering_record_id"], status))
            continue
        record_id = str(uuid.uuid4())
        world.add_ledger_record(
            _ledger_entry("BatchMeterUsage", record_id, product, sub, item, now, caller),
            key,
        )
        results.append(_result(item.record, record_id, "Success"))
    return {"Results": results, "UnprocessedRecords": left_over}


def _result(record: dict[str, Any], record_id: str, status: str) -> dict[str, Any]:
    return {"UsageRecord": record, "MeteringRecordId": record_id, "Status": status}


def _ledger_entry(
    operation: str,
    record_id: str,
    product: Product,
    sub: Subscription,
    item: _Resolved,
    now: datetime,
    caller: Caller,
) -> dict[str, Any]:
    return {
        "metering_record_id": record_id,
        "operation": operation,
        "product_code": product.code,
        "agreement_id": sub.agreement_id,
        "customer_aws_account_id": sub.account_id,
        "license_arn": sub.license_arn,
        "customer_identifier": sub.customer_identifier,
        "dimension": item.record.get("Dimension") or item.record.get("UsageDimension"),
        "hour": iso(hour_of(item.ts)),
        "timestamp": iso(item.ts),
        "quantity": quantity_key(item.quantity),
        "allocations": item.allocations,
        "free_trial": sub.free_trial,
        "received_at": iso(now),
        "access_key_id": caller.access_key_id,
        "region": caller.region,
    }


# -- MeterUsage / RegisterUsage (called with the buyer's credentials) -------------------------------------


def caller_account(config: dict[str, Any], caller: Caller) -> str | None:
    mapped = (config.get("access_key_accounts") or {}).get(caller.access_key_id)
    if mapped:
        return str(mapped)
    if caller.access_key_id.isdigit() and len(caller.access_key_id) == 12:
        return caller.access_key_id
    default = config.get("default_caller_account_id")
    return str(default) if default else None


def _entitled_subscription(world: World, product: Product, caller: Caller) -> Subscription:
    account = caller_account(world.config, caller)
    sub = pick_current(world.subscriptions_for(product.code, account)) if account else None
    if sub is None or sub.status not in METERABLE_STATUSES:
        raise ApiError(
            "CustomerNotEntitledException",
            f"Account {account or 'unknown'} does not have a valid subscription for product {product.code}",
        )
    return sub


def _fingerprint(params: dict[str, Any]) -> str:
    relevant = {k: v for k, v in params.items() if k != "ClientToken"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def meter_usage(world: World, now: datetime, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    if caller.region != world.config["region"]:
        raise ApiError(
            "InvalidEndpointRegionException",
            f"The endpoint Region {caller.region} differs from the resource's Region {world.config['region']}",
        )
    product = world.products.get(params["ProductCode"])
    if product is None:
        raise ApiError("InvalidProductCodeException", f"Product code {params['ProductCode']} is not valid")
    if params["UsageDimension"] not in product.dimensions:
        raise ApiError("InvalidUsageDimensionException", f"Dimension {params['UsageDimension']} is not valid")
    ts = _timestamp(params["Timestamp"])
    check_timestamp(ts, now, float(world.config["meter_usage_window_hours"]), world.config)
    quantity, kind = _quantity(params, "UsageQuantity", "UsageQuantityAsDecimal")
    allocations = check_allocations(params.get("UsageAllocations"), quantity, kind)
    sub = _entitled_subscription(world, product, caller)
    client_token = params.get("ClientToken")
    fingerprint = _fingerprint(params)
    if client_token is not None and client_token in world.client_tokens:
        seen = world.client_tokens[client_token]
        if seen["fingerprint"] != fingerprint:
            raise ApiError("IdempotencyConflictException", "The ClientToken is being used for multiple requests")
        return {"MeteringRecordId": seen["metering_record_id"]}
    key = f"meter|{product.code}|{sub.account_id}|{params['UsageDimension']}|{iso(hour_of(ts))}"
    existing = world.ledger_record_for(key)
    if existing is not None and Decimal(existing["quantity"]) != quantity:
        raise ApiError(
            "DuplicateRequestException",
            "A metering record has already been emitted for this dimension and hour with a different quantity",
        )
    if params.get("DryRun"):
        raise ApiError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
    if existing is not None:
        record_id = str(existing["metering_record_id"])
    else:
        record_id = str(uuid.uuid4())
        item = _Resolved({"UsageDimension": params["UsageDimension"]}, sub, ts, quantity, allocations)
        world.add_ledger_record(_ledger_entry("MeterUsage", record_id, product, sub, item, now, caller), key)
    if client_token is not None:
        world.client_tokens[client_token] = {"fingerprint": fingerprint, "metering_record_id": record_id}
    return {"MeteringRecordId": record_id}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(payload: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(SIGNING_KEY, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def register_usage(world: World, now: datetime, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    config = world.config
    check_region_enabled(caller, config)
    if caller.region != config["region"]:
        raise ApiError(
            "InvalidRegionException",
            f"RegisterUsage must be called in the Region the task runs in ({config['region']}), not {caller.region}",
        )
    if config["caller_platform"] not in config["supported_platforms"]:
        raise ApiError(
            "PlatformNotSupportedException",
            f"AWS Marketplace does not support metering usage from platform {config['caller_platform']}",
        )
    product = world.products.get(params["ProductCode"])
    if product is None:
        raise ApiError("InvalidProductCodeException", f"Product code {params['ProductCode']} is not valid")
    if params["PublicKeyVersion"] not in config["public_key_versions"]:
        version = params["PublicKeyVersion"]
        raise ApiError("InvalidPublicKeyVersionException", f"Public key version {version} is invalid")
    sub = _entitled_subscription(world, product, caller)
    payload = {
        "productCode": product.code,
        "publicKeyVersion": params["PublicKeyVersion"],
        "customerIdentifier": sub.customer_identifier,
        "customerAWSAccountId": sub.account_id,
        "nonce": params.get("Nonce"),
        "issuedAt": iso(now),
    }
    return {"Signature": sign_jwt(payload)}


# -- the operations (catalog.py lists them) ----------------------------------------------------------------------

SERVER_FAULT = "a random server fault (faults `internal_error_rate`), nothing committed"
NOT_SIGNED_HERE = "signed for a Region in config `disabled_regions`"
TAGS = "an allocation's tags break the model's constraints (1 to 5, key and value patterns) or repeat a key"
ALLOCATIONS = (
    "allocations break the model's constraints, do not add up to the quantity, repeat a tag set, have more than one "
    "untagged allocation, or mix integer and decimal quantities"
)


def _batch_meter_usage(request: Request) -> Answer:
    result = batch_meter_usage(
        request.world, request.now, request.caller, request.params, lambda: request.roll("unprocessed_rate")
    )
    statuses: dict[str, int] = {}
    for item in result["Results"]:
        statuses[item["Status"]] = statuses.get(item["Status"], 0) + 1
    return result, {"results": statuses, "unprocessed": len(result["UnprocessedRecords"])}


RESOLVE_CUSTOMER = Operation(
    METERING,
    "ResolveCustomer",
    lambda r: (resolve_customer(r.world, r.now, r.caller, r.params), {}),
    {
        "InvalidTokenException": "the token was never issued, or its subscription failed",
        "ExpiredTokenException": (
            "the token is older than config `token_ttl_seconds`, or was resolved before and `token_single_use` is on"
        ),
        "ThrottlingException": "over config `operation_quotas.ResolveCustomer` (unlimited by default)",
        "InternalServiceErrorException": SERVER_FAULT,
        "DisabledApiException": NOT_SIGNED_HERE,
    },
)
BATCH_METER_USAGE = Operation(
    METERING,
    "BatchMeterUsage",
    _batch_meter_usage,
    {
        "InternalServiceErrorException": SERVER_FAULT,
        "InvalidProductCodeException": "the call's ProductCode (legacy customers) names no product",
        "InvalidUsageDimensionException": "a record's Dimension is not one of its product's",
        "InvalidTagException": TAGS,
        "InvalidUsageAllocationsException": ALLOCATIONS,
        "InvalidCustomerIdentifierException": (
            "a CustomerIdentifier for a licence-mode product, or one that never existed"
        ),
        "TimestampOutOfBoundsException": (
            "a Timestamp older than config `window_hours` (24), ahead by more than `future_tolerance_seconds`, or of "
            "last month after `month_end_cutoff_hour` (6) UTC on the 1st"
        ),
        "ThrottlingException": "over config `quota_per_second` / `quota_burst` (10/s) per access key",
        "DisabledApiException": NOT_SIGNED_HERE,
        "InvalidLicenseException": (
            "an unknown LicenseArn, one of another account or product, or usage before the licence's first hour"
        ),
    },
)
METER_USAGE = Operation(
    METERING,
    "MeterUsage",
    lambda r: (meter_usage(r.world, r.now, r.caller, r.params), {}),
    {
        "InternalServiceErrorException": SERVER_FAULT,
        "InvalidProductCodeException": "ProductCode names no product",
        "InvalidUsageDimensionException": "UsageDimension is not one of the product's",
        "InvalidTagException": TAGS,
        "InvalidUsageAllocationsException": ALLOCATIONS,
        "InvalidEndpointRegionException": "signed for another Region than config `region`",
        "TimestampOutOfBoundsException": "a Timestamp older than config `meter_usage_window_hours` (6), or ahead",
        "DuplicateRequestException": "another quantity for the same product, dimension and hour",
        "IdempotencyConflictException": "a ClientToken used before with other parameters (HTTP 409)",
        "ThrottlingException": "over config `operation_quotas.MeterUsage` (10/s)",
        "CustomerNotEntitledException": "the calling buyer holds no meterable subscription to the product",
        "DryRunOperation": "DryRun set on a request that would succeed (not in the model: a plain ClientError)",
    },
    signed_by="buyer",
)
REGISTER_USAGE = Operation(
    METERING,
    "RegisterUsage",
    lambda r: (register_usage(r.world, r.now, r.caller, r.params), {}),
    {
        "InvalidProductCodeException": "ProductCode names no product",
        "InvalidRegionException": "signed for another Region than config `region`",
        "InvalidPublicKeyVersionException": "PublicKeyVersion not in config `public_key_versions`",
        "PlatformNotSupportedException": "config `caller_platform` not in `supported_platforms`",
        "CustomerNotEntitledException": "the calling buyer holds no meterable subscription to the product",
        "ThrottlingException": "over config `operation_quotas.RegisterUsage` (5/s)",
        "InternalServiceErrorException": SERVER_FAULT,
        "DisabledApiException": NOT_SIGNED_HERE,
    },
    signed_by="buyer",
)
