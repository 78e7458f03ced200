"""Usage events in DynamoDB: each event's identity, and the event itself sharded per hour; each written once.

Layout (usage table):

- The event, where the flush reads it: ``pk = U#<event hour>#<shard>`` (shard = stable hash of the event id, so one
  busy customer spreads over all shards), ``sk = <event id>|<customer key>``, written with a conditional put (items
  an earlier version wrote have ``sk = <event id>``: they are read the same). A late event (its hour
  no longer takes usage) keeps its own key and also gets ``gsi1pk = LATE#<billing hour>#<shard>``: a sparse index
  only late events pay for, read by the flush of the hour that bills them.
- Its identity: ``pk = ID#<customer key>#<event id>``, ``sk = <event id>``, the event as first accepted (the same
  attributes, no index keys) with ``rq`` (the request that claimed it) and ``until`` (when the id may count again:
  ``IDENTITY_LIFETIME`` after its billing hour; also its TTL). Claimed with a conditional put that hands back the
  identity already kept (``ReturnValuesOnConditionCheckFailure``), so a resend costs no extra read. The rules that
  use it are ``functions.usage.once``.

Short attribute names keep each item well under 1 KB (one write unit): two write units per event, three for a late
one (its index entry).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from functions.clock import Clock
from functions.storage.dynamodb import batch_get, condition_failed, storage_error
from functions.storage.errors import StorageError
from functions.usage.model import (
    IDENTITY_LIFETIME,
    WRITE_START_DEADLINE,
    Allocation,
    UsageEvent,
    hour_key,
    parse_hour_key,
    shard_of,
)

_WRITERS = 16
T = TypeVar("T")


def _partition(hour: datetime, shard: int) -> str:
    return f"U#{hour_key(hour)}#{shard}"


_PAGE_ITEMS = 200


def _late_partition(billing_hour: datetime, shard: int) -> str:
    return f"LATE#{hour_key(billing_hour)}#{shard}"


def _event_sort_key(event: UsageEvent) -> str:
    """The event's id and its customer: two customers' events may carry one id (``|`` is in no id: its pattern)."""
    return f"{event.event_id}|{event.customer_key}"


def _to_item(event: UsageEvent, shard: int, expires_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": _partition(event.hour, shard)},
        "sk": {"S": _event_sort_key(event)},
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
        item["gsi1sk"] = {"S": _event_sort_key(event)}
        item["b"] = {"S": hour_key(event.late_billing_hour)}
    return item


def _identity_key(event: UsageEvent) -> dict[str, Any]:
    customer, event_id = event.identity
    return {"pk": {"S": f"ID#{customer}#{event_id}"}, "sk": {"S": event_id}}


def _identity_item(event: UsageEvent, request: str) -> dict[str, Any]:
    item = {k: v for k, v in _to_item(event, 0, 0).items() if k not in ("gsi1pk", "gsi1sk")}
    until = int((event.billing_hour + IDENTITY_LIFETIME).timestamp())
    return {
        **item,
        **_identity_key(event),
        "rq": {"S": request},
        "until": {"N": str(until)},
        "expires_at": {"N": str(until)},
    }


def _from_item(item: dict[str, Any]) -> UsageEvent:
    billing = item.get("b", {}).get("S")
    return UsageEvent(
        event_id=item["sk"]["S"].partition("|")[0],  # an item of an earlier version: the id alone
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
        return self._each(self._put, events)

    def claim(self, events: Sequence[UsageEvent], request: str) -> list[UsageEvent | None]:
        return self._each(lambda event: self._claim(event, request), events)

    def _claim(self, event: UsageEvent, request: str) -> UsageEvent | None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_identity_item(event, request),
                ConditionExpression="attribute_not_exists(pk) OR #until < :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": {"N": str(int(event.received_at.timestamp()))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if condition_failed(error):
                return _from_item(error.response["Item"])
            raise storage_error(error) from error
        return None

    def release(self, events: Sequence[UsageEvent], request: str) -> None:
        def release(event: UsageEvent) -> None:
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=_identity_key(event),
                    ConditionExpression="rq = :request",
                    ExpressionAttributeValues={":request": {"S": request}},
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error

        self._each(release, events)

    def kept(self, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        keys = [{"pk": {"S": f"ID#{customer}#{event_id}"}, "sk": {"S": event_id}} for customer, event_id in identities]
        return {
            (event.customer_key, event.event_id): event
            for event in map(_from_item, batch_get(self._client, self._table, keys))
        }

    def is_stored(self, event: UsageEvent) -> bool:
        try:
            found = self._client.get_item(
                TableName=self._table,
                Key={
                    "pk": {"S": _partition(event.hour, shard_of(event.event_id, self._shards))},
                    "sk": {"S": _event_sort_key(event)},
                },
                ConsistentRead=True,
                ProjectionExpression="pk",
            )
        except ClientError as error:
            raise storage_error(error) from error
        return "Item" in found

    def reclaim(self, event: UsageEvent, kept: UsageEvent) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_identity_item(event, "reclaimed"),
                ConditionExpression="r = :kept",
                ExpressionAttributeValues={":kept": {"S": kept.received_at.isoformat()}},
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise storage_error(error) from error
        return True

    def _each(self, write: Callable[[UsageEvent], T], events: Sequence[UsageEvent]) -> list[T]:
        if len(events) <= 1:
            return [write(e) for e in events]
        return list(self._writer_pool().map(write, events))

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
