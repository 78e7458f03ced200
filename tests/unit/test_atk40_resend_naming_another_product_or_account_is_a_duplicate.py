"""Attack 40 (on ``stored_before``, which 30924d2 extends): a refused event that an earlier request stored "exactly as
sent" counts as a duplicate and its errors are dropped (``ingest``: ``index not in before``). "As sent" is compared on
dimension, quantity, hour and allocations (``_sent_as``), under the identity its naming gives: a licence's key holds
no product code, and the account is not compared. So e0 stored for product p and account 111122223333, sent again
naming a product that does not exist or another AWS account for the licence, is answered 200 ``duplicate``: bad input
accepted without naming the field, and an event listed duplicate that is not stored as sent (its product, its buyer's
account differ). A first send with either is refused (422 naming the field); its resend should be too, listing e0 as
stored (it is, as first sent) beside the error."""

from __future__ import annotations

from typing import Any

import pytest

from functions.clock import ManualClock
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryUsage
from tests.unit.test_usage_ingest_rules import NOW, SETTINGS, customers, event


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product_code": "no-such-product"}, "events[0].product_code"),
        ({"customer_aws_account_id": "999999999999"}, "events[0].customer_aws_account_id"),
    ],
)
def test_a_resend_naming_another_product_or_account_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    store, fake = InMemoryUsage(), customers()

    def send(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=ManualClock(NOW))

    send([event(0)])
    with pytest.raises(UsageRejected) as first_sent_so:  # as a first send: refused, naming the field
        send([event(1, **changes)])
    assert [e.field for e in first_sent_so.value.errors] == [field]
    with pytest.raises(UsageRejected) as resent:  # resent so: e0 is stored, but not as this names it
        send([event(0, **changes)])
    assert [e.field for e in resent.value.errors] == [field]
