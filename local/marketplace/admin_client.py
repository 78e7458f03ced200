"""The admin API's HTTP client: a thin urllib client, one method per route (``admin_routes``), returning the parsed
JSON. CONTRACT.md promises it as ``local.marketplace.admin``, which still imports it from here."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class AdminAPIError(RuntimeError):
    """The admin API refused a request; ``status`` is the HTTP status, the message its ``error`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class AdminClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, Any] | None = None
    ) -> Any:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = f"{self.url}/admin/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw).get("error", raw.decode())
            except ValueError:
                message = raw.decode(errors="replace")
            raise AdminAPIError(exc.code, message) from None

    # -- world and switches ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "health"))

    def reset(self) -> dict[str, Any]:
        return dict(self._call("POST", "reset"))

    def get_config(self) -> dict[str, Any]:
        return dict(self._call("GET", "config"))

    def put_config(self, changes: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return dict(self._call("PUT", "config", {**(changes or {}), **kwargs}))

    def reset_config(self) -> dict[str, Any]:
        return dict(self._call("DELETE", "config"))

    def get_clock(self) -> dict[str, Any]:
        return dict(self._call("GET", "clock"))

    def set_clock(self, now: str) -> dict[str, Any]:
        return dict(self._call("PUT", "clock", {"now": now}))

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return dict(self._call("PUT", "clock", {"advance_seconds": seconds}))

    def real_clock(self) -> dict[str, Any]:
        return dict(self._call("PUT", "clock", {"real": True}))

    def get_faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "faults"))

    def put_faults(self, changes: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return dict(self._call("PUT", "faults", {**(changes or {}), **kwargs}))

    def clear_faults(self) -> dict[str, Any]:
        return dict(self._call("DELETE", "faults"))

    def queue_errors(self, *entries: dict[str, Any]) -> dict[str, Any]:
        """Shorthand for PUT /admin/faults {"next_errors": [...]} (replaces the queue)."""
        return self.put_faults(next_errors=list(entries))

    # -- products, buyers, subscriptions ---------------------------------------------------------------

    def create_product(self, code: str, dimensions: list[str], **fields: Any) -> dict[str, Any]:
        return dict(self._call("POST", "products", {"code": code, "dimensions": dimensions, **fields}))

    def list_products(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "products")["products"])

    def create_buyer(self, account_id: str, name: str = "") -> dict[str, Any]:
        return dict(self._call("POST", "buyers", {"account_id": account_id, "name": name}))

    def list_buyers(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "buyers")["buyers"])

    def subscribe(self, product_code: str, account_id: str, **fields: Any) -> dict[str, Any]:
        """POST /admin/subscriptions; fields: free_trial, confirm, entitlements, offer_id, start_time, concurrent,
        proposer_account_id (a channel partner's offer), resale_authorization_id."""
        body = {"product_code": product_code, "account_id": account_id, **fields}
        return dict(self._call("POST", "subscriptions", body))

    def list_subscriptions(self, **filters: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "subscriptions", query=filters)["subscriptions"])

    def get_subscription(self, agreement_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"subscriptions/{agreement_id}"))

    def confirm(self, agreement_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"subscriptions/{agreement_id}/confirm", {}))

    def fail(self, agreement_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"subscriptions/{agreement_id}/fail", {}))

    def unsubscribe(self, agreement_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"subscriptions/{agreement_id}/unsubscribe", {}))

    def finalize(self, agreement_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"subscriptions/{agreement_id}/finalize", {}))

    def issue_token(self, agreement_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"subscriptions/{agreement_id}/tokens", {}))

    def renew(self, agreement_id: str, **fields: Any) -> dict[str, Any]:
        """Renew the agreement; returns the new (renewal) agreement. Fields: offer_id, entitlements."""
        return dict(self._call("POST", f"subscriptions/{agreement_id}/renew", fields))

    def approve_cancellation(self, agreement_id: str) -> dict[str, Any]:
        """The buyer approves the seller's cancellation request pending on the agreement: it is cancelled and ends."""
        return dict(self._call("POST", f"subscriptions/{agreement_id}/cancellation_approve", {}))

    def reject_cancellation(self, agreement_id: str) -> dict[str, Any]:
        """The buyer rejects the seller's cancellation request pending on the agreement: it goes on."""
        return dict(self._call("POST", f"subscriptions/{agreement_id}/cancellation_reject", {}))

    def notify_ending(self, agreement_id: str, days_before_end: int = 30) -> dict[str, Any]:
        """Send the advance notice that the agreement ends in ``days_before_end`` days."""
        return dict(self._call("POST", f"subscriptions/{agreement_id}/ending", {"days_before_end": days_before_end}))

    def put_entitlements(self, agreement_id: str, entitlements: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self._call("PUT", f"subscriptions/{agreement_id}/entitlements", {"entitlements": entitlements}))

    def fail_billing_adjustment(
        self, request_id: str, *, notify: bool = True, status_message: str | None = None
    ) -> dict[str, Any]:
        """AWS fails the billing adjustment it took (``ba-...``): VALIDATION_FAILED, its amount back on the invoice,
        and its Failed event sent unless ``notify`` is false (a lost event). 404 unknown, 409 failed already."""
        body: dict[str, Any] = {"notify": notify}
        if status_message is not None:
            body["status_message"] = status_message
        return dict(self._call("POST", f"billing-adjustments/{request_id}/fail", body))

    # -- observations ----------------------------------------------------------------------------------

    def ledger(self, **filters: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "ledger", query=filters)["records"])

    def calls(self, **filters: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "calls", query=filters)["calls"])

    def notifications(self, after: int = 0) -> list[dict[str, Any]]:
        return list(self._call("GET", "notifications", query={"after": after})["notifications"])

    def add_webhook(self, url: str) -> dict[str, Any]:
        return dict(self._call("POST", "notifications/webhooks", {"url": url}))

    def webhooks(self) -> dict[str, Any]:
        return dict(self._call("GET", "notifications/webhooks"))

    def clear_webhooks(self) -> dict[str, Any]:
        return dict(self._call("DELETE", "notifications/webhooks"))

    def seed_demo(self, fulfillment_url: str | None = None) -> dict[str, Any]:
        return dict(self._call("POST", "demo", {"fulfillment_url": fulfillment_url} if fulfillment_url else {}))

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "state"))
