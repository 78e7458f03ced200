"""BatchMeterUsage's second cap: besides at most 25 records, a request "must be less than 1MB in size".

1 MB is read as 1,048,576 bytes (how AWS states its other 1 MB request caps), and "less than" literally:
1,048,575 bytes is the largest request accepted, 1,048,576 is refused. The bodies are sized exactly, with
unmodified boto3 sending them; an observer on botocore's before-send event checks the size on the wire.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.serialize import create_serializer

from ..model_validation import operation_model
from ..testing import usage_record

LIMIT = 1024 * 1024
TAGS_PER_ALLOCATION = 5
BASE_VALUE_LENGTH = 200
MAX_VALUE_LENGTH = 256


def _body_size(params: dict[str, Any]) -> int:
    request = create_serializer("json").serialize_to_request(
        params, operation_model("meteringmarketplace", "BatchMeterUsage")
    )
    return len(request["body"])


def _params(sub: dict[str, Any], timestamp: datetime, values: list[list[str]]) -> dict[str, Any]:
    allocations = [
        {"AllocatedUsageQuantity": 1, "Tags": [{"Key": f"k{j}", "Value": value} for j, value in enumerate(tags)]}
        for tags in values
    ]
    record = usage_record(sub, "api_calls", len(allocations), timestamp, UsageAllocations=allocations)
    return {"UsageRecords": [record]}


def _tag_values(count: int) -> list[list[str]]:
    # The allocation's number leads each value, so every allocation's tag set is unique.
    return [[f"{i:06d}".ljust(BASE_VALUE_LENGTH, "v") for _ in range(TAGS_PER_ALLOCATION)] for i in range(count)]


def _params_of_size(sub: dict[str, Any], timestamp: datetime, size: int) -> dict[str, Any]:
    """One record whose allocations (unique tag sets, one unit each) make the JSON body exactly ``size`` bytes."""
    per_allocation = _body_size(_params(sub, timestamp, _tag_values(2))) - _body_size(
        _params(sub, timestamp, _tag_values(1))
    )
    count = size // per_allocation
    while (missing := size - _body_size(_params(sub, timestamp, _tag_values(count)))) < 0:
        count -= 1
    values = _tag_values(count)
    # Lengthen tag values one byte per character (plain ASCII letters are never escaped in JSON).
    for tags in values:
        for j, value in enumerate(tags):
            grow = min(MAX_VALUE_LENGTH - len(value), missing)
            tags[j] = value + "w" * grow
            missing -= grow
    assert missing == 0
    params = _params(sub, timestamp, values)
    assert _body_size(params) == size
    return params


def _client_observing_body_size(marketplace: Any, sizes: list[int]) -> Any:
    client = marketplace.metering(max_attempts=1)

    def observe(request: Any, **_: Any) -> None:
        sizes.append(len(request.body))

    client.meta.events.register("before-send.marketplace-metering.BatchMeterUsage", observe)
    return client


def test_a_request_just_under_1_mb_is_metered(marketplace):
    sub = marketplace.subscribe_buyer()
    sizes: list[int] = []
    client = _client_observing_body_size(marketplace, sizes)
    params = _params_of_size(sub, datetime.now(UTC).replace(microsecond=0), LIMIT - 1)
    result = client.batch_meter_usage(**params)
    assert sizes == [LIMIT - 1]
    assert [r["Status"] for r in result["Results"]] == ["Success"]
    (entry,) = marketplace.admin.ledger()
    assert len(entry["allocations"]) == len(params["UsageRecords"][0]["UsageAllocations"])


@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1])
def test_a_request_of_1_mb_or_more_is_refused_with_413(marketplace, size):
    sub = marketplace.subscribe_buyer()
    sizes: list[int] = []
    client = _client_observing_body_size(marketplace, sizes)
    params = _params_of_size(sub, datetime.now(UTC).replace(microsecond=0), size)
    with pytest.raises(ClientError) as caught:
        client.batch_meter_usage(**params)
    assert sizes == [size]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert caught.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert "less than 1048576 bytes" in caught.value.response["Error"]["Message"]
    assert marketplace.admin.ledger() == []
    (call,) = marketplace.admin.calls()
    assert (call["operation"], call["http_status"], call["error_code"]) == (
        "BatchMeterUsage",
        413,
        "RequestEntityTooLargeException",
    )
