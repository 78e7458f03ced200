"""What the lifecycle needs of GetEntitlements, as a port: a customer's current entitlements
(``functions.marketplace.entitlements`` is the adapter)."""

from __future__ import annotations

from typing import Protocol

from functions.customers.model import Customer


class EntitlementsUnavailable(RuntimeError):
    """GetEntitlements failed or never finished paging: the notification is retried."""


class EntitlementReader(Protocol):
    def current(self, customer: Customer) -> tuple[dict[str, object], ...]: ...
