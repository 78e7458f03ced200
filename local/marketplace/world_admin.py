"""The operations that shape the seller's world: products, buyers, subscriptions, config, clock, faults, webhooks, and
reset. The admin API, the buyer pages, ``demo`` and Python callers all come through here.

Every request is checked whole before anything changes: a refused one (:class:`AdminError`: 400 bad input, 404
unknown, 409 wrong state) leaves the world as it was.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from . import agreements, entitlement, lifecycle
from .clock import MAX_OFFSET, clock_move, clock_time, iso, parse_iso
from .config import default_config, merge_config
from .errors import AdminError
from .queries import describe_subscription
from .state import EmulatorState
from .world import (
    CUSTOMER_MODES,
    LIVE_STATUSES,
    PRICING_MODELS,
    RESOLVE_CUSTOMER_SHAPES,
    Buyer,
    Product,
    Subscription,
    World,
    new_agreement_id,
    new_customer_identifier,
    new_license_arn,
    new_offer_id,
    new_product_id,
)


def reset(mp: EmulatorState) -> None:
    """An empty world, default config, faults off, real clock, full quota buckets, no undelivered notifications."""
    with mp.lock:
        mp.world = World()
        mp.clock.real()
        mp.faults.reset()
        mp.quota.reset()
        mp.hub.discard_pending()
        mp.persist()


# -- switches ------------------------------------------------------------------------------------------------------


def set_config(mp: EmulatorState, update: dict[str, Any]) -> dict[str, Any]:
    with mp.lock:
        try:
            # replaced whole, never changed in place: code reading one key without the lock sees one config
            mp.world.config = merge_config(mp.world.config, update)
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        mp.persist()
        return dict(mp.world.config)


def reset_config(mp: EmulatorState) -> dict[str, Any]:
    with mp.lock:
        mp.world.config = default_config()
        mp.persist()
        return dict(mp.world.config)


def set_clock(mp: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """``{"now": iso}``, ``{"advance_seconds": n}`` or ``{"real": true}``; a moved clock keeps ticking."""
    # every value checked before any is applied: a bad request changes nothing
    try:
        moment = clock_time(body["now"]) if "now" in body else None
        seconds = clock_move(body["advance_seconds"]) if "advance_seconds" in body else None
    except (TypeError, ValueError, OverflowError) as exc:
        raise AdminError(f"bad clock request: {exc}") from exc
    with mp.lock:
        offset = 0.0 if body.get("real") else mp.clock.offset_seconds
        if moment is not None:
            offset = moment.timestamp() - time.time()
        offset += seconds or 0.0
        if abs(offset) > MAX_OFFSET.total_seconds():
            raise AdminError(f"bad clock request: the clock may be at most {MAX_OFFSET.days} days off")
        mp.clock.set_offset(offset)
        mp.persist()
    # what the moved time implies (grace periods that ran out) happens now, not at the next call
    lifecycle.tick(mp)
    mp.flush_notifications()
    return mp.clock.describe()


def set_faults(mp: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """Merge a ``PUT /admin/faults`` body (``Faults.update`` checks it whole first)."""
    try:
        mp.faults.update(body)
    except (TypeError, ValueError) as exc:
        raise AdminError(str(exc)) from exc
    return mp.faults.describe()


def add_webhook(mp: EmulatorState, url: str) -> list[str]:
    if not url.startswith(("http://", "https://")):
        raise AdminError("url must be http(s)")
    with mp.lock:
        if url not in mp.world.webhooks:
            mp.world.webhooks.append(url)
        mp.persist()
        return list(mp.world.webhooks)


def remove_webhooks(mp: EmulatorState) -> None:
    with mp.lock:
        mp.world.webhooks.clear()
        mp.persist()


# -- products, buyers, subscriptions -------------------------------------------------------------------------------


def add_product(mp: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
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
    shape = body.get("resolve_customer_shape", "current")
    if shape not in RESOLVE_CUSTOMER_SHAPES:
        raise AdminError(f"resolve_customer_shape must be one of {RESOLVE_CUSTOMER_SHAPES}")
    if shape == "identifier-only" and mode != "legacy":
        raise AdminError("resolve_customer_shape identifier-only is a legacy product's (customer_mode legacy)")
    product = Product(
        code=code,
        id=str(body.get("id") or new_product_id()),
        name=str(body.get("name") or code),
        dimensions=list(dimensions),
        customer_mode=mode,
        fulfillment_url=str(body.get("fulfillment_url") or "http://127.0.0.1:3000/register"),
        pricing=pricing,
        resolve_customer_shape=shape,
    )
    with mp.lock:
        if code in mp.world.products:
            raise AdminError(f"product {code} exists", 409)
        mp.world.products[code] = product
        mp.persist()
    return asdict(product)


def add_buyer(mp: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    account = str(body.get("account_id") or "")
    if not (account.isdigit() and len(account) == 12):
        raise AdminError("account_id must be 12 digits")
    with mp.lock:
        buyer = mp.world.buyers.setdefault(account, Buyer(account, str(body.get("name") or "")))
        if body.get("name"):
            buyer.name = str(body["name"])
        mp.persist()
        return asdict(buyer)


def subscribe(mp: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """A new agreement, confirmed unless ``confirm`` is false; answers it with its first registration token."""
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
    with mp.lock:
        product = mp.world.products.get(product_code)
        if product is None:
            raise AdminError(f"unknown product {product_code!r}", 404)
        now = issued = mp.now()
        if body.get("start_time"):
            # Backdating lets tests meter hours before "now" without breaking the licence period rule.
            try:
                now = parse_iso(str(body["start_time"]))
            except ValueError as exc:
                raise AdminError(f"bad start_time: {exc}") from exc
        mp.world.buyers.setdefault(account, Buyer(account))
        earlier = mp.world.subscriptions_for(product_code, account)
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
        mp.world.add_subscription(sub)
        # The token is handed out now even for a backdated agreement, so it is usable straight away.
        token = lifecycle.issue_token(mp.world, sub, issued)
        if body.get("confirm", True):
            lifecycle.confirm(mp, sub, now)
        mp.persist()
        result = describe_subscription(mp.world, sub)
        result["registration_token"] = token.token
        result["token_expires_at"] = token.expires_at
    mp.flush_notifications()
    return result
