"""Attack 35: decimal usage accepted under one configuration is truncated on the wire when the flush seals it under
the next (a dimension's ``quantity_type`` changed, or its product taken out of cdk.json).

The usage API checks an event against the product's dimensions as configured when it arrives (``storage_gb`` decimal:
"2.5" accepted, 200). The flush seals the hour later, under the settings deployed then, and takes the record's kind
from them alone (``functions/flush/aggregate.py`` ``aggregate``: ``integer.get(..., True)``): a dimension now
``integer``, or a product no longer listed (the default: integer), makes the record ``integer``, and
``functions/flush/calls.py`` ``usage_record`` writes ``Quantity: int(record.quantity)``: 2.5 GB goes out as 2.
``unsendable`` checks an integer record's maximum only, so nothing parks it or counts it; Marketplace takes one record
per customer, dimension and hour, so the lost half unit can never be sent again. Every decimal record of the hours
accepted before the deploy and sealed after it loses its fraction.

Correct: what the usage API accepted is billed as accepted (2.5), or parked with a reason; never rounded down.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from functions.flush.calls import usage_record
from functions.settings import Dimension, Product
from tests.unit.review23_world import PRODUCT, World, hour

METERED = replace(PRODUCT, dimensions=(Dimension("calls"), Dimension("storage_gb", quantity_type="decimal")))


def wire_quantity(world: World, dimension: str) -> Decimal:
    """The units of ``dimension`` Marketplace billed, as the request carried them (what botocore sends)."""
    billed = Decimal(0)
    for record, _ in world.marketplace.billed.values():
        if record.dimension == dimension:
            sent = usage_record(record)
            billed += Decimal(str(sent.get("QuantityAsDecimal", sent.get("Quantity"))))
    return billed


@pytest.mark.parametrize(
    "deployed",
    [
        pytest.param((replace(METERED, dimensions=(Dimension("calls"), Dimension("storage_gb"))),), id="retyped"),
        pytest.param((), id="product-taken-out"),
    ],
)
def test_decimal_usage_accepted_before_a_deploy_is_billed_in_full_after_it(deployed: tuple[Product, ...]) -> None:
    # Given a buyer of a product with a decimal dimension, whose 2.5 GB at 10:10 the usage API accepts
    world = World(product=METERED)
    world.subscribe()
    world.at(hour(10, 10))
    event = {**world.usage_event("gb-1010", 0), "dimension": "storage_gb", "quantity": "2.5"}
    assert world.record(event).accepted == ("gb-1010",)
    # When the seller deploys another product configuration at 10:30, before the hour is sealed (11:05)
    world.at(hour(10, 30))
    world.settings = replace(world.settings, products=deployed)
    world.deps = replace(world.deps, settings=world.settings)
    world.at(hour(12, 10))
    # Then the 2.5 GB accepted are billed as 2.5, not rounded down to 2 on the wire
    assert wire_quantity(world, "storage_gb") == Decimal("2.5"), {
        k: usage_record(r) for k, (r, _) in world.marketplace.billed.items()
    }
