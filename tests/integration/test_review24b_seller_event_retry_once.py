"""Review 24b (fix): the lifecycle function publishes a retried seller event once per ``event_id``, through its real
wiring (Powertools idempotency on DynamoDB Local): the same retry message delivered twice (SQS's redelivery) is
published once, and a message carrying another event is published too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.registration.event_retries import retry_message
from functions.seller_events import CUSTOMER_ACTIVATED, identified
from local.marketplace.testing import EmulatorHandle
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

PRODUCT = "retry-once-product"
LICENCE = "arn:aws:license-manager::1:license:l-retry-once"


@pytest.fixture
def world(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Any], tmp_path: Path
) -> Iterator[LifecycleWorld]:
    products = [{"code": PRODUCT, "name": "Retry product", "dimensions": [{"name": "api_calls"}]}]
    with lifecycle_world(marketplace, dynamodb, handler_environment, tmp_path, products) as lifecycle:
        yield lifecycle


def test_a_retry_message_delivered_twice_is_published_once_per_event_id(world: LifecycleWorld) -> None:
    def activated(at: str) -> str:
        detail = {"product_code": PRODUCT, "license_arn": LICENCE}
        return retry_message(identified(CUSTOMER_ACTIVATED, detail, f"{PRODUCT}#{LICENCE}", at))

    first = activated("2026-11-26T09:30:00+00:00")
    world.handle([first])
    world.handle([first])  # SQS delivers it again
    world.handle([activated("2026-12-01T08:00:00+00:00")])  # another activation: another fact

    sent = [
        d["event_id"] for kind, d in world.published() if kind == CUSTOMER_ACTIVATED and d["license_arn"] == LICENCE
    ]
    assert len(sent) == 2, sent
    assert len(set(sent)) == 2, sent
    assert world.failures == []
    # remembered in the idempotency table (so another sandbox's redelivery is caught too), keeping no detail
    kept = [
        item
        for item in world.dynamodb.scan(TableName=world.settings.idempotency_table)["Items"]
        if item["id"]["S"].startswith("seller_event_retry#")
    ]
    assert len(kept) == 2, kept
    assert all(LICENCE not in str(item) for item in kept)
