"""``--product P`` (``cli reconcile``, ``cli adjust``) keeps to product P's hours: CloudTrail names no product for a
licence's record, so a result only CloudTrail knows is of the product its customer is of (review 29 noticed another
product's passed the filter, and ``adjust --product P`` would have refunded Q's hour)."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import TrailResult
from functions.settings import Dimension, Product, Settings
from operations.adjust import over_billed
from operations.queries import OperationsDeps, select
from operations.reconcile import reconcile
from tests.unit.test_reconcile import ACCOUNT, HOUR, NOW, PRODUCT, Trail, deps

OTHER = Product(code="other-product", name="Other", dimensions=(Dimension(name="api_calls"),))
OTHERS_LICENCE = "arn:aws:license-manager::1:license:l-other"


def two_products() -> OperationsDeps:
    """The buyer of tests.unit.test_reconcile (PRODUCT, 3 units accepted), and another product's buyer."""
    ops = deps([3])
    ops.customers.put(  # type: ignore[attr-defined]
        Customer(
            ref=CustomerRef(OTHER.code, license_arn=OTHERS_LICENCE),
            customer_aws_account_id=ACCOUNT,
            state=SubscriptionState.ACTIVE,
            state_changed_at=NOW,
        )
    )
    return OperationsDeps(Settings(products=(PRODUCT, OTHER)), ops.customers, ops.usage, ops.metering, ops.clock)


def outsiders_record_of_the_other_product() -> TrailResult:
    # billed by someone else: no usage of ours, no record of ours; CloudTrail names the licence, not the product
    return TrailResult(OTHERS_LICENCE, ACCOUNT, "api_calls", HOUR, Decimal(500), "Success", "m-other", NOW)


def test_a_product_filter_leaves_out_another_products_hour_that_only_cloudtrail_knows() -> None:
    ops = two_products()
    trail = Trail(outsiders_record_of_the_other_product())
    only_ours = reconcile(ops, trail, select(ops, since=HOUR, until=HOUR, product=PRODUCT.code))
    assert [(r.customer, r.cloudtrail) for r in only_ours.rows if r.cloudtrail is not None] == []
    assert over_billed(only_ours, ops.customers.list_all()) == []


def test_the_other_products_filter_and_no_filter_keep_it() -> None:
    ops = two_products()
    for product in (OTHER.code, None):
        found = reconcile(
            ops, Trail(outsiders_record_of_the_other_product()), select(ops, since=HOUR, until=HOUR, product=product)
        )
        (hour,) = over_billed(found, ops.customers.list_all())
        assert (hour.product_code, hour.customer, hour.excess) == (OTHER.code, OTHERS_LICENCE, Decimal(500))
