"""Read-only views of the world for the admin API, the buyer pages and Python callers.

Each holds the world lock only while it copies what it returns, and filters the copy after releasing it, so a long
ledger listing does not hold up metering. Nothing here changes the world.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .errors import AdminError
from .state import EmulatorState
from .world import Subscription, World

# CONTRACT.md documents ?account_id= for the ledger; the record field is customer_aws_account_id.
LEDGER_FILTER_ALIASES = {"account_id": "customer_aws_account_id"}


def _text(value: Any) -> str:
    # Query strings are text: compare booleans and nulls the way they are spelled in the JSON output.
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _matches(item: dict[str, Any], filters: dict[str, str]) -> bool:
    return all(_text(item.get(key)) == wanted for key, wanted in filters.items())


# -- one subscription (caller holds the world lock) ----------------------------------------------------------------


def find_subscription(world: World, agreement_id: str) -> Subscription:
    """The agreement's record, or a 404 for the admin API."""
    sub = world.subscriptions.get(agreement_id)
    if sub is None:
        raise AdminError(f"unknown agreement {agreement_id!r}", 404)
    return sub


def describe_subscription(world: World, sub: Subscription) -> dict[str, Any]:
    """A subscription as the admin API returns it: its record plus its product's customer mode and its tokens."""
    data = asdict(sub)
    data["customer_mode"] = world.products[sub.product_code].customer_mode
    data["tokens"] = [t.token for t in world.tokens.values() if t.agreement_id == sub.agreement_id]
    return data


# -- listings -----------------------------------------------------------------------------------------------------


def products(mp: EmulatorState) -> list[dict[str, Any]]:
    with mp.lock:
        return [asdict(p) for p in mp.world.products.values()]


def buyers(mp: EmulatorState) -> list[dict[str, Any]]:
    with mp.lock:
        return [asdict(b) for b in mp.world.buyers.values()]


def subscriptions(mp: EmulatorState, filters: dict[str, str]) -> list[dict[str, Any]]:
    with mp.lock:
        subs = [describe_subscription(mp.world, s) for s in mp.world.subscriptions.values()]
    return [s for s in subs if _matches(s, filters)]


def subscription(mp: EmulatorState, agreement_id: str) -> dict[str, Any]:
    with mp.lock:
        return describe_subscription(mp.world, find_subscription(mp.world, agreement_id))


def ledger(mp: EmulatorState, filters: dict[str, str]) -> list[dict[str, Any]]:
    with mp.lock:
        records = [dict(r) for r in mp.world.ledger]
    for record in records:
        record.pop("dedup_key", None)
    wanted = {LEDGER_FILTER_ALIASES.get(k, k): v for k, v in filters.items()}
    return [r for r in records if _matches(r, wanted)]


def calls(mp: EmulatorState, filters: dict[str, str]) -> list[dict[str, Any]]:
    with mp.lock:
        logged = [dict(c) for c in mp.world.calls]
    return [c for c in logged if _matches(c, filters)]


def notifications(mp: EmulatorState, after: int) -> list[dict[str, Any]]:
    with mp.lock:
        return [dict(n) for n in mp.world.notifications if n["seq"] > after]


# -- settings and the whole world ---------------------------------------------------------------------------------


def config(mp: EmulatorState) -> dict[str, Any]:
    with mp.lock:
        return dict(mp.world.config)


def webhooks(mp: EmulatorState) -> dict[str, Any]:
    """The registered webhooks and how delivering to them went."""
    with mp.lock:
        hooks = list(mp.world.webhooks)
    return {"webhooks": hooks, "deliveries": mp.hub.webhook_deliveries, "failures": list(mp.hub.webhook_failures)}


def state(mp: EmulatorState) -> dict[str, Any]:
    """The whole world as JSON (``GET /admin/state``)."""
    with mp.lock:
        return mp.world.to_json()
