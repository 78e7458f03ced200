"""The demo seller world (``--demo``): one licence-mode SaaS product and a couple of buyers."""

from __future__ import annotations

from typing import Any

from .errors import AdminError
from .service import Marketplace

DEFAULT_FULFILLMENT_URL = "http://127.0.0.1:3000/register"
DEMO_PRODUCT_CODE = "demo-saas-product"
DEMO_PRODUCT_ID = "prod-demo0saas0001"
DEMO_DIMENSIONS = ["api_calls", "storage_gb"]
DEMO_BUYERS = {"111122223333": "Demo Buyer One", "444455556666": "Demo Buyer Two"}


def seed_demo(marketplace: Marketplace, fulfillment_url: str = DEFAULT_FULFILLMENT_URL) -> dict[str, Any]:
    """Seed the demo product and buyers; idempotent, so a restart with --state-file keeps one copy."""
    existing = {p["code"]: p for p in marketplace.products()}
    product = existing.get(DEMO_PRODUCT_CODE)
    if product is None:
        try:
            product = marketplace.add_product(
                {
                    "code": DEMO_PRODUCT_CODE,
                    "id": DEMO_PRODUCT_ID,
                    "name": "Demo SaaS product",
                    "dimensions": DEMO_DIMENSIONS,
                    "customer_mode": "license",
                    "fulfillment_url": fulfillment_url,
                    "pricing": "usage",
                }
            )
        except AdminError:  # created concurrently
            product = {p["code"]: p for p in marketplace.products()}[DEMO_PRODUCT_CODE]
    buyers = [marketplace.add_buyer({"account_id": a, "name": n}) for a, n in DEMO_BUYERS.items()]
    return {"product": product, "buyers": buyers}
