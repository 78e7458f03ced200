"""Every AWS call's path through the emulator, once the HTTP layer has read it.

In order: emulator time catches up (``lifecycle.tick``) and injected latency is slept; then the checks in the order
AWS's front end makes them (README.md, "What it emulates"): the fault queue, the quota, random server faults,
parsing, model validation; then the operation itself (``metering``, ``entitlement``, ``agreement_terms``) under the
world lock. Every call, refused or not, lands in the call log (``/admin/calls``); a refused call commits nothing else. A
lost response is decided last: the call is applied and committed, only its answer is dropped.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import agreement_terms, cloudtrail, entitlement, lifecycle, metering
from .clock import iso
from .errors import ApiError
from .faults import LOST_RESPONSE
from .model_validation import operation_names, validate
from .state import EmulatorState

METERING = "meteringmarketplace"
ENTITLEMENT = "marketplace-entitlement"
AGREEMENT = "marketplace-agreement"
CLOUDTRAIL = cloudtrail.CLOUDTRAIL
# The Agreement Service models dozens of operations; a SaaS seller's registration reads the terms of one agreement.
# Every other operation of it is answered UnknownOperationException, as an operation of no service is.
AGREEMENT_OPERATIONS = ("GetAgreementTerms",)
# Each model names its server fault: "InternalServiceErrorException" in the metering and entitlement models.
SERVER_FAULT = {AGREEMENT: "InternalServerException"}


def serves(service: str, operation: str) -> bool:
    """Whether the emulator answers ``operation`` of ``service`` (the HTTP layer routes nothing else)."""
    if service == AGREEMENT:
        return operation in AGREEMENT_OPERATIONS
    if service == CLOUDTRAIL:
        return operation in cloudtrail.CLOUDTRAIL_OPERATIONS
    return operation in operation_names(service)


@dataclass
class Outcome:
    """What the HTTP layer should answer for one AWS call."""

    status: int
    body: dict[str, Any] | None = None
    error: ApiError | None = None
    # The call was applied but its response must be dropped (connection closed, no bytes sent).
    lose_response: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def handle_aws(
    mp: EmulatorState,
    service: str,
    operation: str,
    params: dict[str, Any] | None,
    caller: metering.Caller,
    parse_error: str | None = None,
) -> Outcome:
    """Run one AWS call; ``params`` is None when the body could not be read (``parse_error`` says why)."""
    outcome = _run(mp, service, operation, params, caller, parse_error)
    mp.flush_notifications()
    return outcome


def log_unroutable(mp: EmulatorState, operation: str, caller: metering.Caller, error: ApiError) -> None:
    """Log a call the HTTP layer refused before the pipeline (unknown operation, oversized body)."""
    with mp.lock:
        _log_call(mp, operation, caller, error.status, error, 0, {})
        mp.persist()


def _run(
    mp: EmulatorState,
    service: str,
    operation: str,
    params: dict[str, Any] | None,
    caller: metering.Caller,
    parse_error: str | None,
) -> Outcome:
    lifecycle.tick(mp)
    request_id = str(uuid.uuid4())
    # Slept, rolled and counted outside the world lock: a slow or throttled call must not hold up the others.
    delay = mp.faults.latency_seconds(operation)
    if delay:
        time.sleep(delay)
    lose = False
    record_count = len(params.get("UsageRecords") or []) if isinstance(params, dict) else 0
    try:
        queued = mp.faults.pop_error(operation)
        if queued is not None and queued.code == LOST_RESPONSE:
            lose = True
        elif queued is not None:
            raise ApiError(queued.code, queued.message, queued.status)
        _check_quota(mp, operation, caller)
        if mp.faults.roll("internal_error_rate", operation):
            fault = SERVER_FAULT.get(service, "InternalServiceErrorException")
            raise ApiError(fault, "An internal error has occurred (emulated fault)")
        if parse_error is not None or params is None:
            raise ApiError("SerializationException", parse_error or "Could not read the request body")
        violations = validate(service, operation, params)
        if violations:
            if service == ENTITLEMENT:
                raise ApiError("InvalidParameterException", metering.validation_error(violations).message)
            if service == AGREEMENT:
                raise agreement_terms.validation_error(violations)
            if service == CLOUDTRAIL:
                raise cloudtrail.validation_error(violations)
            raise metering.validation_error(violations)
        with mp.lock:
            body, summary = _dispatch(mp, operation, params, caller)
            _log_call(mp, operation, caller, 200, None, record_count, summary)
            cloudtrail.record_call(mp.world, mp.now(), operation, params, caller, request_id, body, None)
            mp.persist()
    except ApiError as raised:
        # the same code answers with another status in another service (ThrottlingException: 400 or 429)
        error = raised.for_service(service)
        with mp.lock:
            _log_call(mp, operation, caller, error.status, error, record_count, {})
            if service == METERING:
                cloudtrail.record_call(mp.world, mp.now(), operation, params, caller, request_id, None, error)
            mp.persist()
        return Outcome(status=error.status, error=error, request_id=request_id)
    if not lose:
        lose = mp.faults.roll("lost_response_rate", operation)
    return Outcome(status=200, body=body, lose_response=lose, request_id=request_id)


def _check_quota(mp: EmulatorState, operation: str, caller: metering.Caller) -> None:
    # Read without the world lock: the config dict is only ever replaced whole, never changed in place.
    config = mp.world.config
    if operation == "BatchMeterUsage":
        rate, burst = float(config["quota_per_second"]), float(config["quota_burst"])
    else:
        quota = (config.get("operation_quotas") or {}).get(operation)
        if not quota:
            return
        rate, burst = float(quota.get("per_second", 0)), float(quota.get("burst", 0))
    if not mp.quota.try_acquire(caller.access_key_id, operation, rate, burst):
        raise ApiError("ThrottlingException", "Rate exceeded")


def _dispatch(
    mp: EmulatorState, operation: str, params: dict[str, Any], caller: metering.Caller
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The operation's answer, and the summary of it the call log keeps (caller holds the world lock)."""
    world, now = mp.world, mp.now()
    if operation == "BatchMeterUsage":
        result = metering.batch_meter_usage(
            world, now, caller, params, lambda: mp.faults.roll("unprocessed_rate", operation)
        )
        statuses: dict[str, int] = {}
        for item in result["Results"]:
            statuses[item["Status"]] = statuses.get(item["Status"], 0) + 1
        return result, {"results": statuses, "unprocessed": len(result["UnprocessedRecords"])}
    if operation == "MeterUsage":
        return metering.meter_usage(world, now, caller, params), {}
    if operation == "ResolveCustomer":
        return metering.resolve_customer(world, now, caller, params), {}
    if operation == "RegisterUsage":
        return metering.register_usage(world, now, caller, params), {}
    if operation == "GetEntitlements":
        result = entitlement.get_entitlements(world, params, lambda: mp.faults.roll("empty_page_rate", operation))
        return result, {"entitlements": len(result["Entitlements"])}
    if operation == "LookupEvents":
        result = cloudtrail.lookup_events(world, now, caller.region, params)
        return result, {"events": len(result["Events"])}
    if operation == "GetAgreementTerms":
        result = agreement_terms.get_agreement_terms(world, params)
        return result, {"terms": len(result["acceptedTerms"])}
    raise ApiError("UnknownOperationException", f"Unknown operation {operation}")


def _log_call(
    mp: EmulatorState,
    operation: str,
    caller: metering.Caller,
    status: int,
    error: ApiError | None,
    record_count: int,
    summary: dict[str, Any],
) -> None:
    entry: dict[str, Any] = {
        "operation": operation,
        "http_status": status,
        "error_code": error.code if error else None,
        "error_message": error.message if error else None,
        "record_count": record_count,
        "time": iso(mp.now()),
        "access_key_id": caller.access_key_id,
        "region": caller.region,
    }
    entry.update(summary)
    mp.world.log_call(entry)
