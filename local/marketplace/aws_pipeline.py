"""Every AWS call's path through the emulator, once the HTTP layer has read it.

In order: emulator time catches up (``lifecycle.tick``) and injected latency is slept; then the checks in the order
AWS's front end makes them (README.md, "What it emulates"): the fault queue, the caller's account, the quota, random
server faults, parsing, model validation; then the operation itself (its record in ``catalog``) under the world
lock. Every call, refused or not, lands in the call log (``/admin/calls``); a refused call commits nothing else. A
lost response is decided last: the call is applied and committed, only its answer is dropped.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import catalog, cloudtrail, lifecycle
from .clock import iso
from .errors import ApiError
from .faults import LOST_RESPONSE
from .model_validation import validate
from .operation import METERING, Caller, Operation, Request
from .state import EmulatorState
from .world import Subscription


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
    caller: Caller,
    parse_error: str | None = None,
) -> Outcome:
    """Run one AWS call; ``params`` is None when the body could not be read (``parse_error`` says why)."""
    outcome = _run(mp, service, operation, params, caller, parse_error)
    mp.flush_notifications()
    return outcome


def log_unroutable(mp: EmulatorState, operation: str, caller: Caller, error: ApiError) -> None:
    """Log a call the HTTP layer refused before the pipeline (unknown operation, oversized body)."""
    with mp.lock:
        _log_call(mp, operation, caller, error.status, error, 0, {})
        mp.persist()


def _run(
    mp: EmulatorState,
    service: str,
    operation: str,
    params: dict[str, Any] | None,
    caller: Caller,
    parse_error: str | None,
) -> Outcome:
    served = catalog.operation(service, operation)
    if served is None:  # the HTTP layer routes only what is served
        raise ValueError(f"{service} {operation} is not served")
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
        _check_seller(mp, served, caller)
        _check_quota(mp, operation, caller)
        if mp.faults.roll("internal_error_rate", operation):
            raise ApiError(catalog.SERVICES[service].server_fault, "An internal error has occurred (emulated fault)")
        if parse_error is not None or params is None:
            raise ApiError("SerializationException", parse_error or "Could not read the request body")
        violations = validate(service, operation, params)
        if violations:
            raise catalog.SERVICES[service].validation_error(violations)
        with mp.lock:
            roll = lambda switch: mp.faults.roll(switch, operation)  # noqa: E731
            now = mp.now()

            def emit(step: str, sub: Subscription, **extra: Any) -> object:
                return mp.hub.emit(mp.world, step, sub, now, **extra)

            body, summary = served.run(Request(mp.world, now, caller, params, roll, emit))
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
    mp.flush_notifications()  # what the call sent (a cancellation request's event), delivered outside the lock
    if not lose:
        lose = mp.faults.roll("lost_response_rate", operation)
    return Outcome(status=200, body=body, lose_response=lose, request_id=request_id)


def _check_seller(mp: EmulatorState, served: Operation, caller: Caller) -> None:
    """A seller's operation signed with another account's credentials (config ``access_key_accounts`` maps the access
    key to an account that is not ``seller_account_id``) is refused as AWS's front end refuses a caller without the
    permission: AccessDeniedException (every Marketplace API reference's "Common Errors", HTTP 400)."""
    if served.signed_by != "seller":
        return
    config = mp.world.config  # read without the lock: replaced whole, never changed in place
    account = (config.get("access_key_accounts") or {}).get(caller.access_key_id)
    if account is not None and str(account) != str(config["seller_account_id"]):
        raise ApiError(
            "AccessDeniedException",
            f"User: arn:aws:iam::{account}:user/emulated is not authorized to perform: "
            f"aws-marketplace:{served.name} (the products are published by {config['seller_account_id']})",
        )


def _check_quota(mp: EmulatorState, operation: str, caller: Caller) -> None:
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


def _log_call(
    mp: EmulatorState,
    operation: str,
    caller: Caller,
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
