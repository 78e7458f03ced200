"""An over-billed hour is one hour to refund whichever side saw it first (in-memory fakes).

CloudTrail names no product for a licence's record, so an hour only CloudTrail knew (someone billed a buyer who used
nothing) was claimed under a key naming no product. Once our ledger knew that hour too (a leaving buyer's usage
placed in it later), its key named the product: the first refund's claim was not found, and the hour was refunded
again (review 27b noticed it; left then). Its key now names the customer's product either way."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from operations.adjust import over_billed, proposals, refund_key
from operations.reconcile import Carried, ReconciledRow, Reconciliation
from tests.unit.test_adjust import HOUR, LICENCE, PRODUCT, Book, deps


def _hour(product_code: str, carried: tuple[Carried, ...] = ()) -> Reconciliation:
    """09:00 of our licence buyer: AWS billed 1,200 api_calls they did not use; ``carried``: usage placed there."""
    row = ReconciledRow(
        hour=HOUR,
        product_code=product_code,
        customer=LICENCE,
        customer_aws_account_id="111100000001",
        dimension="api_calls",
        accepted=None,
        events=0,
        sealed=None,
        status="",
        metering_record_id=None,
        marketplace=None,
        cloudtrail=Decimal(1200),
        cloudtrail_status="Success",
        carried=carried,
    )
    return Reconciliation(HOUR, HOUR, [row], cloudtrail_checked=True)


def test_an_hour_only_cloudtrail_knew_is_named_by_the_customers_product() -> None:
    world = deps()
    (hour,) = over_billed(_hour(""), world.customers.list_all())
    assert hour.product_code == PRODUCT.code
    assert refund_key(hour) == f"{PRODUCT.code}#{LICENCE}#api_calls#2026-11-26T09"


def test_an_hour_refunded_while_only_cloudtrail_knew_it_is_not_refunded_again_once_ours_knows_it() -> None:
    world = deps()
    (first,) = proposals(world, over_billed(_hour(""), world.customers.list_all()), Book())
    assert (first.problem, first.amount) == (None, Decimal("12.00"))  # 1,200 units at 0.01
    asked = {refund_key(h): first.client_token for h in first.hours}

    # later a leaving buyer's last 200 units, from 10:00, are placed in 09:00: our ledger knows the hour now
    placed = Carried(Decimal(200), source=HOUR + timedelta(hours=1), into=HOUR)
    later = over_billed(_hour(PRODUCT.code, (placed,)), world.customers.list_all())
    found = proposals(world, later, Book(), asked)
    assert [p.problem for p in found] == [f"refunded before (client token {first.client_token})"]
    assert [p.amount for p in found] == [None]  # not 10.00 more for 12.00 refunded already
