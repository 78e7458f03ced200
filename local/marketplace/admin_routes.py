"""The admin API's routes (``/admin/...``): which :class:`Marketplace` method each method and path calls, and the
status it answers with. JSON in, JSON out (README.md "Admin API", CONTRACT.md); the client is ``admin_client``.

The routes hold no lock and leave the checking of bodies to the operations (``world_admin``, ``lifecycle``,
``queries``), which take the lock and refuse with :class:`AdminError`; the HTTP layer answers that ``{"error": ...}``.
"""

from __future__ import annotations

from typing import Any

from .demo import DEFAULT_FULFILLMENT_URL, seed_demo
from .errors import AdminError
from .service import Marketplace

_LIFECYCLE_POSTS = {
    "confirm",
    "fail",
    "unsubscribe",
    "finalize",
    "tokens",
    "renew",
    "ending",
    "cancellation_approve",
    "cancellation_reject",
}


def route_admin(
    mp: Marketplace, method: str, path: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any]:
    parts = [p for p in path.split("/") if p][1:]  # drop "admin"
    # time passed since the last request is applied first, so what an admin reads is up to date
    mp.tick()
    try:
        return _route(mp, method, parts, query, body)
    finally:
        mp.flush_notifications()


def _route(
    mp: Marketplace, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any]:
    head = parts[0] if parts else ""
    rest = parts[1:]
    key = (method, head, len(rest))
    if key == ("GET", "health", 0):
        return 200, {"ok": True}
    if key == ("POST", "reset", 0):
        mp.reset()
        return 200, {"ok": True}
    if head == "config" and not rest:
        if method == "GET":
            return 200, mp.config()
        if method == "PUT":
            return 200, mp.set_config(body)
        if method == "DELETE":
            return 200, mp.reset_config()
    if head == "clock" and not rest:
        if method == "GET":
            return 200, mp.clock.describe()
        if method == "PUT":
            return 200, mp.set_clock(body)
    if head == "faults" and not rest:
        if method == "GET":
            return 200, mp.faults.describe()
        if method == "PUT":
            return 200, mp.set_faults(body)
        if method == "DELETE":
            mp.faults.reset()
            return 200, mp.faults.describe()
    if head == "products" and not rest:
        if method == "GET":
            return 200, {"products": mp.products()}
        if method == "POST":
            return 201, mp.add_product(body)
    if head == "buyers" and not rest:
        if method == "GET":
            return 200, {"buyers": mp.buyers()}
        if method == "POST":
            return 201, mp.add_buyer(body)
    if head == "subscriptions":
        if not rest and method == "GET":
            return 200, {"subscriptions": mp.subscriptions(query)}
        if not rest and method == "POST":
            return 201, mp.subscribe(body)
        if len(rest) == 1 and method == "GET":
            return 200, mp.subscription(rest[0])
        if len(rest) == 2 and method == "POST" and rest[1] in _LIFECYCLE_POSTS:
            return 200, mp.lifecycle(rest[0], rest[1], body)
        if len(rest) == 2 and method == "PUT" and rest[1] == "entitlements":
            return 200, mp.lifecycle(rest[0], "entitlements", body)
    if key == ("POST", "billing-adjustments", 2) and rest[1] == "fail":
        return 200, mp.fail_billing_adjustment(rest[0], body)
    if key == ("GET", "ledger", 0):
        return 200, {"records": mp.ledger(query)}
    if key == ("GET", "calls", 0):
        return 200, {"calls": mp.calls(query)}
    if head == "notifications":
        if not rest and method == "GET":
            try:
                after = int(query.get("after", "0"))
            except ValueError as exc:
                raise AdminError("after must be an integer") from exc
            return 200, {"notifications": mp.notifications(after)}
        if rest == ["webhooks"]:
            if method == "GET":
                return 200, mp.webhooks()
            if method == "POST":
                return 201, {"webhooks": mp.add_webhook(str(body.get("url") or ""))}
            if method == "DELETE":
                mp.remove_webhooks()
                return 200, {"webhooks": []}
    if key == ("POST", "demo", 0):
        return 200, seed_demo(mp, str(body.get("fulfillment_url") or DEFAULT_FULFILLMENT_URL))
    if key == ("GET", "state", 0):
        return 200, mp.state()
    raise AdminError(f"no admin route {method} /admin/{'/'.join(parts)}", 404)
