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

Both writes are PartiQL ``INSERT`` statements, 25 to a ``BatchExecuteStatement`` request: an INSERT is a conditional
put (it fails with ``DuplicateItem`` where an item with its key exists) billed as a PutItem, each statement succeeding
or failing on its own, so a batch of 100 events is 8 requests instead of 200 while every write stays conditional.
A claim that finds an identity kept reads it (consistently) and, only if its lifetime is over, takes it over with a
conditional PutItem.
"""

from __future__ import annotations

import json
import random
import threading
import time
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
W = TypeVar("W")
_STATEMENTS = 25  # BatchExecuteStatement's most statements per request
MAX_PARTITION_KEY_BYTES = 2048  # DynamoDB's longest partition key value (its service quotas: attributes, key lengths)
# a statement's own error that trying it again may cure (BatchStatementError codes); any other is final
_RETRYABLE_STATEMENT = {
    "ProvisionedThroughputExceeded",
    "ThrottlingError",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionConflict",
}
_STATEMENT_ATTEMPTS = 6


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


def _insert_statement(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """PartiQL's conditional put: the item's attributes as parameters (names are ours, never the caller's)."""
    names = list(item)
    struct = ", ".join(f"'{name}': ?" for name in names)
    return {"Statement": f'INSERT INTO "{table}" VALUE {{{struct}}}', "Parameters": [item[n] for n in names]}


def _expired(kept: UsageEvent, event: UsageEvent) -> bool:
    """The kept identity's lifetime is over when ``event`` arrives (its id may count again)."""
    return kept.billing_hour + IDENTITY_LIFETIME < event.received_at


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
        # BatchWriteItem cannot be conditional: INSERTs (conditional puts, batched) keep exactly-once per event id
        items = [_to_item(e, shard_of(e.event_id, self._shards), self._expires_at(e)) for e in events]
        return self._insert_all(items, lambda: self._check_deadline(events))

    def claim(self, events: Sequence[UsageEvent], request: str) -> list[UsageEvent | None]:
        claimed = self._insert_all([_identity_item(e, request) for e in events], lambda: None)
        found = [e for e, new in zip(events, claimed, strict=True) if not new]
        kept = self.kept([e.identity for e in found]) if found else {}
        answers: list[UsageEvent | None] = []
        for event, new in zip(events, claimed, strict=True):
            first = None if new else kept.get(event.identity)
            if not new and (first is None or _expired(first, event)):
                # its lifetime over (the id may count again), or released meanwhile: claimed as a PutItem would
                first = self._claim(event, request)
            answers.append(first)
        return answers

    def _insert_all(self, items: list[dict[str, Any]], before_each: Callable[[], None]) -> list[bool]:
        """INSERT each item unless its key is stored: True where it was new. ``before_each`` runs before every request
        (the write deadline)."""
        new = [False] * len(items)
        first_of: dict[tuple[str, str], int] = {}
        for index, item in enumerate(items):  # an item named twice in one call is written once (as PutItems would)
            first_of.setdefault((item["pk"]["S"], item["sk"]["S"]), index)
        unique = sorted(first_of.values())
        chunks = [unique[start : start + _STATEMENTS] for start in range(0, len(unique), _STATEMENTS)]

        def insert(chunk: list[int]) -> None:
            for index, done in zip(chunk, self._insert([items[i] for i in chunk], before_each), strict=True):
                new[index] = done

        self._each(insert, chunks)
        return new

    def _insert(self, items: list[dict[str, Any]], before_each: Callable[[], None]) -> list[bool]:
        new = [False] * len(items)
        todo = list(range(len(items)))
        for attempt in range(_STATEMENT_ATTEMPTS):
            if attempt:  # jittered: writers throttled together spread out
                time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))
            before_each()
            try:
                answers = self._client.batch_execute_statement(
                    Statements=[_insert_statement(self._table, items[i]) for i in todo]
                )["Responses"]
            except ClientError as error:
                raise storage_error(error) from error
            again = []
            for index, answer in zip(todo, answers, strict=True):
                code = answer.get("Error", {}).get("Code")
                if code is None:
                    new[index] = True
                elif code in _RETRYABLE_STATEMENT:
                    again.append(index)
                elif code != "DuplicateItem":
                    message = answer["Error"].get("Message", "")
                    raise StorageError(f"DynamoDB {code}: {message}", code=code, retryable=False)
            if not again:
                return new
            todo = again
        raise StorageError("DynamoDB kept refusing writes (throttled)", code="ThrottlingError", retryable=True)

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
        # a key DynamoDB could never have stored is not kept (and reading it fails the whole batch: attack 40, an
        # unknown product's 255-character code and identifier answered 500)
        keys = [key for key in keys if len(key["pk"]["S"].encode()) <= MAX_PARTITION_KEY_BYTES]
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

    def _each(self, write: Callable[[W], T], work: Sequence[W]) -> list[T]:
        if len(work) <= 1:
            return [write(w) for w in work]
        return list(self._writer_pool().map(write, work))

    def _writer_pool(self) -> ThreadPoolExecutor:
        # Kept for the store's life (a warm Lambda's batches): starting threads per batch cost more than the writes
        with self._writers_lock:
            if self._writers is None:
                self._writers = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="usage-writer")
                weakref.finalize(self, self._writers.shutdown, wait=False)
            return self._writers

    def _check_deadline(self, events: Sequence[UsageEvent]) -> None:
        # A write must land within IN_FLIGHT_MARGIN of its acceptance, or its hour may be sealed without it. The
        # API's 29 s limit bounds that; an in-process producer has none, so a write not started in time is not made
        # (a retry is accepted anew, and billed in the hour still open then).
        if self._clock is None:
            return
        now = self._clock.now()
        for event in events:
            if now - event.received_at > WRITE_START_DEADLINE:
                raise StorageError(
                    f"usage event {event.event_id} not written: accepted too long ago; send it again",
                    code="WriteDeadlineExceeded",
                    retryable=True,
                )

    def _expires_at(self, event: UsageEvent) -> int:
        return int((event.received_at + self._retention).timestamp())

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
