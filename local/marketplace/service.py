"""The emulated marketplace: one world behind one lock, plus the AWS-call pipeline and lifecycle actions.

The HTTP layer (``server``) only translates bytes; everything with semantics is here so it can be driven
the same way from the AWS side, the admin API, the buyer pages and Python.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import agreement_terms, agreements, entitlement, metering
from .clock import MAX_OFFSET, Clock, clock_move, clock_time, iso, parse_iso
from .config import default_config, merge_config
from .errors import ApiError
from .faults import LOST_RESPONSE, Faults
from .model_validation import operation_names, validate
from .notifications import NotificationHub
from .quota import TokenBuckets
from .world import (
    CUSTOMER_MODES,
    LIVE_STATUSES,
    PRICING_MODELS,
    Buyer,
    Product,
    Subscription,
    Token,
    World,
    new_agreement_id,
    new_customer_identifier,
    new_license_arn,
    new_offer_id,
    new_product_id,
    new_registration_token,
    write_state,
)

log = logging.getLogger(__name__)

METERING = "meteringmarketplace"
WRITE_COALESCE_SECONDS = 0.05
LEDGER_FILTER_ALIASES = {"account_id": "customer_aws_account_id"}
ENTITLEMENT = "marketplace-entitlement"
AGREEMENT = "marketplace-agreement"
# The Agreement Service models dozens of operations; a SaaS seller's registration reads the terms of one agreement.
# Every other operation of it is answered UnknownOperationException, as an operation of no service is.
AGREEMENT_OPERATIONS = ("GetAgreementTerms",)
# Each model names its server fault: "InternalServiceErrorException" in the metering and entitlement models.
SERVER_FAULT = {AGREEMENT: "InternalServerException"}


def serves(service: str, operation: str) -> bool:
    """Whether the emulator answers ``operation`` of ``service`` (the HTTP layer routes nothing else)."""
    if service == AGREEMENT:
        return operation in AGREEMENT_OPERATIONS
    return operation in operation_names(service)


def _text(value: Any) -> str:
    # Query strings are text: compare booleans and nulls the way they are spelled in the JSON output.
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _matches(item: dict[str, Any], filters: dict[str, str]) -> bool:
    return all(_text(item.get(key)) == wanted for key, wanted in filters.items())


class AdminError(Exception):
    """A refused admin request: 404 for unknown things, 400 for bad input, 409 for wrong state."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Outcome:
    """What the HTTP layer should answer for one AWS call."""

    status: int
    body: dict[str, Any] | None = None
    error: ApiError | None = None
    # The call was applied but its response must be dropped (connection closed, no bytes sent).
    lose_response: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class Marketplace:
    def __init__(self, state_file: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.clock = Clock()
        self.faults = Faults()
        self.quota = TokenBuckets()
        self.hub = NotificationHub()
        self.world = World()
        self._dirty = threading.Event()
        self._closing = False
        self._write_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        if self.state_file is not None and self.state_file.exists():
            self.world = World.load(self.state_file)
            self.clock.set_offset(self.world.clock_offset_seconds)

    # -- plumbing --------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def persist(self) -> None:
        """Schedule a state-file write after a mutation; a no-op for in-memory worlds.

        Writes happen on a background thread that coalesces bursts: the whole world is rewritten each
        time, and doing that inline would make every metered call O(ledger size) under the lock.
        """
        if self.state_file is None:
            return
        self._dirty.set()
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="marketplace-state", daemon=True)
            self._writer.start()

    def flush_state(self) -> None:
        """Write the state file now (blocks until it is on disk)."""
        if self.state_file is None:
            return
        self._dirty.clear()
        self._write_state()

    def close(self) -> None:
        """Stop the background writer and write the final state."""
        self._closing = True
        self._dirty.set()
        if self._writer is not None:
            self._writer.join(timeout=10)
            self._writer = None
        self._closing = False
        self.flush_state()

    def _write_loop(self) -> None:
        while True:
            self._dirty.wait()
            if self._closing:
                return
            self._dirty.clear()
            try:
                self._write_state()
            except OSError:
                log.exception("could not write state file %s", self.state_file)
            time.sleep(WRITE_COALESCE_SECONDS)

    def _write_state(self) -> None:
        assert self.state_file is not None
        # One writer at a time, snapshot and write together, so an older snapshot never lands last.
        with self._write_lock:
            with self.lock:
                self.world.clock_offset_seconds = self.clock.offset_seconds
                data = self.world.to_json()
            write_state(self.state_file, data)

    def flush_notifications(self) -> None:
        with self.lock:
            webhooks = list(self.world.webhooks)
        self.hub.flush(webhooks)

    def tick(self) -> None:
        """Apply what the passage of emulator time implies: finalize subscriptions whose grace ran out."""
        with self.lock:
            now = self.now()
            grace = timedelta(seconds=float(self.world.config["unsubscribe_grace_seconds"]))
            changed = False
            for sub in self.world.subscriptions.values():
                pending = sub.status == "unsubscribe_pending" and sub.unsubscribed_at
                if pending and now >= parse_iso(str(sub.unsubscribed_at)) + grace:
                    self._finalize(sub, now)
                    changed = True
            if changed:
                self.persist()

    def reset(self) -> None:
        with self.lock:
            self.world = World()
            self.clock.real()
            self.faults.reset()
            self.quota.reset()
            self.hub.discard_pending()
            self.persist()

    # -- AWS pipeline ----------------------------------------------------------------------------------

    def handle_aws(
        self,
        service: str,
        operation: str,
        params: dict[str, Any] | None,
        caller: metering.Caller,
        parse_error: str | None = None,
    ) -> Outcome:
        outcome = self._run_aws(service, operation, params, caller, parse_error)
        self.flush_notifications()
        return outcome

    def _run_aws(
        self,
        service: str,
        operation: str,
        params: dict[str, Any] | None,
        caller: metering.Caller,
        parse_error: str | None,
    ) -> Outcome:
        self.tick()
        delay = self.faults.latency_seconds(operation)
        if delay:
            time.sleep(delay)
        lose = False
        record_count = len(params.get("UsageRecords") or []) if isinstance(params, dict) else 0
        try:
            queued = self.faults.pop_error(operation)
            if queued is not None and queued.code == LOST_RESPONSE:
                lose = True
            elif queued is not None:
                raise ApiError(queued.code, queued.message, queued.status)
            self._check_quota(operation, caller)
            if self.faults.roll("internal_error_rate", operation):
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
                raise metering.validation_error(violations)
            with self.lock:
                body, summary = self._dispatch(operation, params, caller)
                self._log_call(operation, caller, 200, None, record_count, summary)
                self.persist()
        except ApiError as raised:
            # the same code answers with another status in another service (ThrottlingException: 400 or 429)
            error = raised.for_service(service)
            with self.lock:
                self._log_call(operation, caller, error.status, error, record_count, {})
                self.persist()
            return Outcome(status=error.status, error=error)
        if not lose:
            lose = self.faults.roll("lost_response_rate", operation)
        return Outcome(status=200, body=body, lose_response=lose)

    def _check_quota(self, operation: str, caller: metering.Caller) -> None:
        config = self.world.config
        if operation == "BatchMeterUsage":
            rate, burst = float(config["quota_per_second"]), float(config["quota_burst"])
        else:
            quota = (config.get("operation_quotas") or {}).get(operation)
            if not quota:
                return
            rate, burst = float(quota.get("per_second", 0)), float(quota.get("burst", 0))
        if not self.quota.try_acquire(caller.access_key_id, operation, rate, burst):
            raise ApiError("ThrottlingException", "Rate exceeded")

    def _dispatch(
        self, operation: str, params: dict[str, Any], caller: metering.Caller
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        world, now = self.world, self.now()
        if operation == "BatchMeterUsage":
            result = metering.batch_meter_usage(
                world, now, caller, params, lambda: self.faults.roll("unprocessed_rate", operation)
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
            result = entitlement.get_entitlements(world, params, lambda: self.faults.roll("empty_page_rate", operation))
            return result, {"entitlements": len(result["Entitlements"])}
        if operation == "GetAgreementTerms":
            result = agreement_terms.get_agreement_terms(world, params)
            return result, {"terms": len(result["acceptedTerms"])}
        raise ApiError("UnknownOperationException", f"Unknown operation {operation}")

    def _log_call(
        self,
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
            "time": iso(self.now()),
            "access_key_id": caller.access_key_id,
            "region": caller.region,
        }
        entry.update(summary)
        self.world.log_call(entry)

    def log_unroutable(self, operation: str, caller: metering.Caller, error: ApiError) -> None:
        with self.lock:
            self._log_call(operation, caller, error.status, error, 0, {})
            self.persist()

    # -- seller world (admin) --------------------------------------------------------------------------

    def set_config(self, update: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            try:
                self.world.config = merge_config(self.world.config, update)
            except ValueError as exc:
                raise AdminError(str(exc)) from exc
            self.persist()
            return dict(self.world.config)

    def reset_config(self) -> dict[str, Any]:
        with self.lock:
            self.world.config = default_config()
            self.persist()
            return dict(self.world.config)

    def set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        # every value checked before any is applied: a bad request changes nothing
        try:
            moment = clock_time(body["now"]) if "now" in body else None
            seconds = clock_move(body["advance_seconds"]) if "advance_seconds" in body else None
        except (TypeError, ValueError, OverflowError) as exc:
            raise AdminError(f"bad clock request: {exc}") from exc
        with self.lock:
            offset = 0.0 if body.get("real") else self.clock.offset_seconds
            if moment is not None:
                offset = moment.timestamp() - time.time()
            offset += seconds or 0.0
            if abs(offset) > MAX_OFFSET.total_seconds():
                raise AdminError(f"bad clock request: the clock may be at most {MAX_OFFSET.days} days off")
            self.clock.set_offset(offset)
            self.persist()
        self.tick()
        self.flush_notifications()
        return self.clock.describe()

    def add_product(self, body: dict[str, Any]) -> dict[str, Any]:
        code = body.get("code")
        dimensions = body.get("dimensions")
        if not isinstance(code, str) or not code:
            raise AdminError("code is required")
        if not isinstance(dimensions, list) or not dimensions or not all(isinstance(d, str) and d for d in dimensions):
            raise AdminError("dimensions must be a non-empty list of names")
        mode = body.get("customer_mode", "license")
        pricing = body.get("pricing", "usage")
        if mode not in CUSTOMER_MODES:
            raise AdminError(f"customer_mode must be one of {CUSTOMER_MODES}")
        if pricing not in PRICING_MODELS:
            raise AdminError(f"pricing must be one of {PRICING_MODELS}")
        product = Product(
            code=code,
            id=str(body.get("id") or new_product_id()),
            name=str(body.get("name") or code),
            dimensions=list(dimensions),
            customer_mode=mode,
            fulfillment_url=str(body.get("fulfillment_url") or "http://127.0.0.1:3000/register"),
            pricing=pricing,
        )
        with self.lock:
            if code in self.world.products:
                raise AdminError(f"product {code} exists", 409)
            self.world.products[code] = product
            self.persist()
        return asdict(product)

    def add_buyer(self, body: dict[str, Any]) -> dict[str, Any]:
        account = str(body.get("account_id") or "")
        if not (account.isdigit() and len(account) == 12):
            raise AdminError("account_id must be 12 digits")
        with self.lock:
            buyer = self.world.buyers.setdefault(account, Buyer(account, str(body.get("name") or "")))
            if body.get("name"):
                buyer.name = str(body["name"])
            self.persist()
            return asdict(buyer)

    def subscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        product_code = str(body.get("product_code") or "")
        account = str(body.get("account_id") or "")
        if not (account.isdigit() and len(account) == 12):
            raise AdminError("account_id must be 12 digits")
        raw_entitlements = body.get("entitlements")
        try:
            entitlements = [entitlement.normalize_entitlement(e) for e in raw_entitlements or []]
            channel = agreements.sale_channel(body)
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        with self.lock:
            product = self.world.products.get(product_code)
            if product is None:
                raise AdminError(f"unknown product {product_code!r}", 404)
            now = issued = self.now()
            if body.get("start_time"):
                # Backdating lets tests meter hours before "now" without breaking the licence period rule.
                try:
                    now = parse_iso(str(body["start_time"]))
                except ValueError as exc:
                    raise AdminError(f"bad start_time: {exc}") from exc
            self.world.buyers.setdefault(account, Buyer(account))
            earlier = self.world.subscriptions_for(product_code, account)
            if any(s.status in LIVE_STATUSES for s in earlier) and not body.get("concurrent"):
                # Concurrent agreements exist on AWS, but an accidental double subscribe in a test is the
                # likelier story; ask for it explicitly.
                raise AdminError(f"account {account} already has a live subscription to {product_code}", 409)
            sub = Subscription(
                agreement_id=new_agreement_id(),
                product_code=product_code,
                account_id=account,
                license_arn=new_license_arn(),
                # A legacy CustomerIdentifier names the buyer for a product, so a re-subscription keeps it.
                customer_identifier=earlier[0].customer_identifier if earlier else new_customer_identifier(),
                offer_id=str(body.get("offer_id") or new_offer_id()),
                status="pending",
                free_trial=bool(body.get("free_trial", False)),
                created_at=iso(now),
                entitlements=entitlements,
                proposer_account_id=channel["proposer_account_id"],
                resale_authorization_id=channel["resale_authorization_id"],
            )
            self.world.subscriptions[sub.agreement_id] = sub
            # The token is handed out now even for a backdated agreement, so it is usable straight away.
            token = self._issue_token(sub, issued)
            if body.get("confirm", True):
                self._confirm(sub, now)
            self.persist()
            result = self._describe(sub)
            result["registration_token"] = token.token
            result["token_expires_at"] = token.expires_at
        self.flush_notifications()
        return result

    def _issue_token(self, sub: Subscription, now: datetime) -> Token:
        ttl = timedelta(seconds=float(self.world.config["token_ttl_seconds"]))
        token = Token(new_registration_token(), sub.agreement_id, iso(now), iso(now + ttl))
        self.world.tokens[token.token] = token
        return token

    def _confirm(self, sub: Subscription, now: datetime) -> None:
        sub.status = "active"
        sub.confirmed_at = iso(now)
        if not sub.entitlements:
            sub.entitlements = entitlement.default_entitlements(self.world.products[sub.product_code], now)
        self.hub.emit(self.world, "subscribe", sub, now)

    def _finalize(self, sub: Subscription, now: datetime) -> None:
        sub.status = "ended"
        sub.ended_at = iso(now)
        self.hub.emit(self.world, "finalize", sub, now)

    def _renew(self, sub: Subscription, now: datetime, body: dict[str, Any]) -> Subscription:
        """A renewal: a new agreement takes over the licence; the renewed one is no longer live ("replaced")."""
        if sub.status != "active":
            raise AdminError(f"agreement is {sub.status}, not active", 409)
        try:
            renewal = agreements.renewal_of(sub, self.world.products[sub.product_code], now, body)
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        sub.status = "replaced"
        sub.ended_at = iso(now)
        sub.replaced_by = renewal.agreement_id
        self.world.subscriptions[renewal.agreement_id] = renewal
        self.hub.emit(self.world, "renew", renewal, now)
        return renewal

    def _get_sub(self, agreement_id: str) -> Subscription:
        sub = self.world.subscriptions.get(agreement_id)
        if sub is None:
            raise AdminError(f"unknown agreement {agreement_id!r}", 404)
        return sub

    def _describe(self, sub: Subscription) -> dict[str, Any]:
        data = asdict(sub)
        data["customer_mode"] = self.world.products[sub.product_code].customer_mode
        data["tokens"] = [t.token for t in self.world.tokens.values() if t.agreement_id == sub.agreement_id]
        return data

    def lifecycle(self, agreement_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        extra: dict[str, Any] = {}
        with self.lock:
            sub = self._get_sub(agreement_id)
            now = self.now()
            if action == "confirm":
                if sub.status != "pending":
                    raise AdminError(f"agreement is {sub.status}, not pending", 409)
                self._confirm(sub, now)
            elif action == "fail":
                if sub.status != "pending":
                    raise AdminError(f"agreement is {sub.status}, not pending", 409)
                sub.status = "failed"
                sub.ended_at = iso(now)
                self.hub.emit(self.world, "subscribe_fail", sub, now)
            elif action == "unsubscribe":
                if sub.status != "active":
                    raise AdminError(f"agreement is {sub.status}, not active", 409)
                sub.status = "unsubscribe_pending"
                sub.unsubscribed_at = iso(now)
                self.hub.emit(self.world, "unsubscribe", sub, now)
            elif action == "finalize":
                if sub.status == "active":
                    sub.status = "unsubscribe_pending"
                    sub.unsubscribed_at = iso(now)
                    self.hub.emit(self.world, "unsubscribe", sub, now)
                if sub.status != "unsubscribe_pending":
                    raise AdminError(f"agreement is {sub.status}, cannot be finalized", 409)
                self._finalize(sub, now)
            elif action == "tokens":
                token = self._issue_token(sub, now)
                extra = {"registration_token": token.token, "token_expires_at": token.expires_at}
            elif action == "entitlements":
                try:
                    sub.entitlements = [entitlement.normalize_entitlement(e) for e in body.get("entitlements", [])]
                except ValueError as exc:
                    raise AdminError(str(exc)) from exc
                self.hub.emit(self.world, "entitlements", sub, now)
            elif action == "renew":
                sub = self._renew(sub, now, body)
            elif action == "ending":
                days = body.get("days_before_end", 30)
                if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                    raise AdminError("days_before_end must be a positive whole number of days")
                if sub.status != "active":
                    raise AdminError(f"agreement is {sub.status}, not active", 409)
                self.hub.emit(self.world, "ending", sub, now, days_before_end=days)
            else:
                raise AdminError(f"unknown action {action!r}", 404)
            self.persist()
            result = self._describe(sub)
            result.update(extra)
        self.flush_notifications()
        return result

    # -- reads -----------------------------------------------------------------------------------------

    def products(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(p) for p in self.world.products.values()]

    def buyers(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(b) for b in self.world.buyers.values()]

    def subscriptions(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            subs = [self._describe(s) for s in self.world.subscriptions.values()]
        return [s for s in subs if _matches(s, filters)]

    def subscription(self, agreement_id: str) -> dict[str, Any]:
        with self.lock:
            return self._describe(self._get_sub(agreement_id))

    def ledger(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            records = [dict(r) for r in self.world.ledger]
        for record in records:
            record.pop("dedup_key", None)
        # CONTRACT.md documents ?account_id= for the ledger; the record field is customer_aws_account_id.
        wanted = {LEDGER_FILTER_ALIASES.get(k, k): v for k, v in filters.items()}
        return [r for r in records if _matches(r, wanted)]

    def calls(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            calls = [dict(c) for c in self.world.calls]
        return [c for c in calls if _matches(c, filters)]

    def notifications(self, after: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(n) for n in self.world.notifications if n["seq"] > after]

    def add_webhook(self, url: str) -> list[str]:
        if not url.startswith(("http://", "https://")):
            raise AdminError("url must be http(s)")
        with self.lock:
            if url not in self.world.webhooks:
                self.world.webhooks.append(url)
            self.persist()
            return list(self.world.webhooks)

    def remove_webhooks(self) -> None:
        with self.lock:
            self.world.webhooks.clear()
            self.persist()
