"""BatchMeterUsage calls are packed under both of its caps: 25 records, and a request body under 1 MB."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.flush.calls import MAX_RECORDS_PER_CALL, MAX_REQUEST_BYTES, batches, record_bytes, usage_record
from functions.flush.records import MeteringRecord
from functions.usage.model import Allocation

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)


def record(n: int, tag_sets: int) -> MeteringRecord:
    allocations = tuple(
        Allocation(tags=(("team", f"{n:04d}-{t:04d}-" + "v" * 240),), quantity=Decimal(1)) for t in range(tag_sets)
    )
    return MeteringRecord(
        key=f"p#c{n}#api_calls",
        hour=HOUR,
        product_code="p",
        customer_key=f"c{n}",
        customer_aws_account_id="111122223333",
        dimension="api_calls",
        quantity=Decimal(max(tag_sets, 1)),
        integer=True,
        license_arn=f"arn:aws:license-manager::294406891311:license:l-{n:032x}",
        allocations=allocations,
    )


def test_a_records_size_is_what_botocore_puts_in_the_body() -> None:
    one = record(1, 3)
    assert record_bytes(one) == len(json.dumps(usage_record(one), default=lambda t: t.timestamp())) + 2


@given(st.lists(st.integers(min_value=0, max_value=1200), min_size=1, max_size=60))
@settings(deadline=None, max_examples=40)  # big records take a while to size; the property, not speed, is tested
def test_calls_keep_every_record_in_order_under_both_caps(tag_sets: list[int]) -> None:
    records = [record(n, count) for n, count in enumerate(tag_sets)]
    calls = batches(records)
    assert [r for call in calls for r in call] == records
    for call in calls:
        assert 1 <= len(call) <= MAX_RECORDS_PER_CALL
        assert sum(record_bytes(r) for r in call) <= MAX_REQUEST_BYTES or len(call) == 1
    # no call could have taken the next call's first record
    for call, following in itertools.pairwise(calls):
        full = len(call) == MAX_RECORDS_PER_CALL
        assert full or sum(record_bytes(r) for r in [*call, following[0]]) > MAX_REQUEST_BYTES
