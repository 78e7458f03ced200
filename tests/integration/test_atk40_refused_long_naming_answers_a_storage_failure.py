"""Attack 40 (on 30924d2's ``stored_before``, which a refusal now runs on every event of its batch): bad input must
answer 4xx naming the field and store nothing, never 5xx. An event of an unknown product is refused, then looked up
anyway, by the naming it sends, among the events stored before (a resend after a lost answer counts once). The
product code (1-255 characters) and a legacy customer identifier (1-255) have no character pattern: 255 four-byte
characters each make its identity's key ``ID#LEGACY#<product>#<identifier>#<id>`` over DynamoDB's 2,048 bytes for a
partition key, and the lookup fails with a ValidationException: a StorageError that is not retryable, answered 500
("the usage store refused this batch ... the seller is alerted") to a producer's typo, and the API's 5xx alarm fires.

An unknown product stores nothing under its name: it need not be looked up (or the schema bounds these fields' bytes,
as it does the licence ARN's). Against DynamoDB Local, whose key limits are DynamoDB's."""

from __future__ import annotations

from typing import Any

import pytest

from functions.usage.ingest import UsageRejected
from tests.integration.test_usage_ingest import LICENSE, NOW, PRODUCT, ingest  # noqa: F401 (the fixture)

WIDE = "\U0001f600" * 255  # 255 characters, 1,020 bytes in UTF-8


def _event(event_id: str, **naming: str) -> dict[str, Any]:
    return {"event_id": event_id, "dimension": "api_calls", "quantity": 3, "timestamp": NOW.isoformat(), **naming}


def test_an_unknown_product_with_a_long_naming_is_refused_naming_it(ingest: Any) -> None:  # noqa: F811
    good = _event("e1", product_code=PRODUCT.code, license_arn=LICENSE, customer_aws_account_id="210987654321")
    typo = _event("x" * 128, product_code=WIDE, customer_identifier=WIDE)
    with pytest.raises(UsageRejected) as refused:
        ingest([good, typo])
    assert [e.field for e in refused.value.errors] == ["events[1].product_code"]
    assert ingest.stored() == []
