"""Usage events in DynamoDB: one small item per event, sharded per hour, written once.

Layout (usage table): ``pk = U#<event hour>#<shard>`` (shard = stable hash of the event id, so one busy customer
spreads over all shards), ``sk = <event id>``; a conditional put makes the id count once per hour, also when
two calls race. A late event (its hour no longer takes usage) keeps its own key, so dedup stays exact, and also
gets ``gsi1pk = LATE#<billing hour>#<shard>``: a sparse index only late events pay for, read by the flush of
the hour that bills them. Short attribute names keep an item well under 1 KB (one write unit).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from functions.clock import Clock
from functions.storage.dynamodb import condition_failed, storage_error
from functions.storage.errors import StorageError
from functions.usage.model import IN_FLIGHT_MARGIN, Allocation, UsageEvent, hour_key, parse_hour_key, shard_of

_WRITERS = 16
# A quarter of the in-flight margin: the DynamoDB client's timeouts (functions.wiring.aws_clients) bound a started
# write to about 40 s, so a write started in time lands within the margin.
WRITE_START_DEADLINE = IN_FLIGHT_MARGIN / 4


def _partition(hour: datetime, shard: int) -> str:
    return f"U#{hour_key(hour)}#{shard}"


_PAGE_ITEMS = 200


def _late_partition(billing_hour: datetime, shard: int) -> str:
    return f"LATE#{hour_key(billing_hour)}#{shard}"


def _to_item(event: UsageEvent, shard: int, expires_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": _partition(event.hour, shard)},
        "sk": {"S": event.event_id},
        "p": {"S": event.product_code},
        "c": {"S": event.customer_key},
        "a": {"S": event.customer_aws_account_id},
        "d": {"S": event.dimension},
        "q": {"S": str(event.quantity)},
        "t": {"S": event.timestamp.isoformat()},
        "r": {"S": event.received_at.isoformat()},
        "expires_at": {"N": str(expires_at)},
    }
    if event.license_arn is not None:
        item["l"] = {"S": event.license_arn}
    if event.customer_identifier is not None:
        item["i"] = {"S": event.customer_identifier}
    if event.allocations:
        item["al"] = {"S": json.dumps([[list(map(list, a.tags)), str(a.quantity)] for a in event.allocations])}
    if event.late_billing_hour is not None:
        item["gsi1pk"] = {"S": _late_partition(event.late_billing_hour, shard)}
        item["gsi1sk"] = {"S": event.event_id}
        item["b"] = {"S": hour_key(event.late_billing_hour)}
    return item


def _from_item(item: dict[str, Any]) -> UsageEvent:
    billing = item.get("b", {}).get("S")
    return UsageEvent(
        event_id=item["sk"]["S"],
        product_code=item["p"]["S"],
        customer_key=item["c"]["S"],
        customer_aws_account_id=item["a"]["S"],
        dimension=item["d"]["S"],
        quantity=Decimal(item["q"]["S"]),
        timestamp=datetime.fromisoformat(item["t"]["S"]),
        received_at=datetime.fromisoformat(item["r"]["S"]),
        license_arn=item.get("l", {}).get("S"),
        customer_identifier=item.get("i", {}).get("S"),
        allocations=tuple(
            Allocation(tags=tuple((k, v) for k, v in tags), quantity=Decimal(quantity))
            for tags, quantity in json.loads(item["al"]["S"])
        )
        if "al" in item
        else (),
        late_billing_hour=parse_hour_key(billing) if billing else None,
    )


class DynamoUsageStore:
    def __init__(
        self, client: Any, table_name: str, *, shards: int, retention: timedelta, clock: Clock | None = None
    ) -> None:
        self._client = client
        self._table = table_name
        self._shards = shards
        self._retention = retention
        self._clock = clock  # given where events are written: it bounds how late a write may start
        self._writers: ThreadPoolExecutor | None = None
        self._writers_lock = threading.Lock()

    def add(self, events: Sequence[UsageEvent]) -> list[bool]:
        # BatchWriteItem cannot be conditional: parallel conditional PutItems keep exactly-once per event id.
        if len(events) <= 1:
            return [self._put(e) for e in events]
        return list(self._writer_pool().map(self._put, events))

    def _writer_pool(self) -> ThreadPoolExecutor:
        # Kept for the store's life (a warm Lambda's batches): starting threads per batch cost more than the writes
        with self._writers_lock:
            if self._writers is None:
                self._writers = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="usage-writer")
                weakref.finalize(self, self._writers.shutdown, wait=False)
            return self._writers

    def _put(self, event: UsageEvent) -> bool:
        # A write must land within IN_FLIGHT_MARGIN of its acceptance, or its hour may be sealed without it. The
        # API's 29 s limit bounds that; an in-process producer has none, so a write not started in time is not made
        # (a retry is accepted anew, and billed in the hour still open then).
        if self._clock is not None and self._clock.now() - event.received_at > WRITE_START_DEADLINE:
            raise StorageError(
                f"usage event {event.event_id} not written: accepted too long ago; send it again",
                code="WriteDeadlineExceeded",
                retryable=True,
            )
        expires_at = int((event.received_at + self._retention).timestamp())
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(event, shard_of(event.event_id, self._shards), expires_at),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise storage_error(error) from error
        return True

    def events_of_hour(self, hour: datetime) -> Iterator[UsageEvent]:
        """Events stamped in ``hour`` that it bills itself (late ones are billed by their billing hour)."""
        for shard in range(self._shards):
            for item in self._query(
                KeyConditionExpression="pk = :pk",
                FilterExpression="attribute_not_exists(b)",
                ExpressionAttributeValues={":pk": {"S": _partition(hour, shard)}},
                ConsistentRead=True,
            ):
                yield _from_item(item)

    def late_events_billed_in(self, hour: datetime) -> Iterator[UsageEvent]:
        for shard in range(self._shards):
            for item in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _late_partition(hour, shard)}},
            ):
                yield _from_item(item)

    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        # pages of a bounded number of items: an hour's events stream through in the same memory however many
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table, PaginationConfig={"PageSize": _PAGE_ITEMS}, **request
        )
        try:
            for page in pages:
                yield from page["Items"]
        except ClientError as error:
            raise storage_error(error) from error
