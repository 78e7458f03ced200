"""Sealed hourly records and their sending state in the metering table.

Layout: ``pk = REC#<hour>``, ``sk = <product>#<customer key>#<dimension>`` is one immutable total (its quantity is
never rewritten with another value); while unsent it carries ``gsi1pk = PENDING``, ``gsi1sk = <hour>#<sk>``, a
sparse index read oldest hour first. ``pk = SEAL, sk = CURSOR`` holds the next hour to seal (advanced by a
conditional write: the seal marker); ``pk = LEASE, sk = FLUSH`` keeps a second flush from doing the same work.
Records and results go in BatchWriteItem requests of 25.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from functions.flush.records import MeteringRecord, RecordResult
from functions.observability import logger, metrics
from functions.storage.dynamodb import condition_failed, storage_error
from functions.storage.errors import ConditionFailed, StorageError
from functions.usage.model import Allocation, hour_key, parse_hour_key

PENDING = "PENDING"
_BATCH = 25
_CURSOR = {"pk": {"S": "SEAL"}, "sk": {"S": "CURSOR"}}
_LEASE = {"pk": {"S": "LEASE"}, "sk": {"S": "FLUSH"}}


def _record_item(record: MeteringRecord, expires_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"REC#{hour_key(record.hour)}"},
        "sk": {"S": record.key},
        "p": {"S": record.product_code},
        "c": {"S": record.customer_key},
        "a": {"S": record.customer_aws_account_id},
        "d": {"S": record.dimension},
        "q": {"S": str(record.quantity)},
        "n": {"BOOL": record.integer},
        "ev": {"N": str(record.events)},
        "expires_at": {"N": str(expires_at)},
    }
    if record.license_arn is not None:
        item["l"] = {"S": record.license_arn}
    if record.customer_identifier is not None:
        item["i"] = {"S": record.customer_identifier}
    if record.allocations:
        item["al"] = {"S": json.dumps([[list(map(list, a.tags)), str(a.quantity)] for a in record.allocations])}
    return item


def record_from_item(item: dict[str, Any]) -> MeteringRecord:
    return MeteringRecord(
        key=item["sk"]["S"],
        hour=parse_hour_key(item["pk"]["S"].partition("#")[2]),  # REC#<hour> (a record), CARRY#<hour> (carried in)
        product_code=item["p"]["S"],
        customer_key=item["c"]["S"],
        customer_aws_account_id=item["a"]["S"],
        dimension=item["d"]["S"],
        quantity=Decimal(item["q"]["S"]),
        integer=item["n"]["BOOL"],
        license_arn=item.get("l", {}).get("S"),
        customer_identifier=item.get("i", {}).get("S"),
        allocations=tuple(
            Allocation(tags=tuple((k, v) for k, v in tags), quantity=Decimal(q))
            for tags, q in json.loads(item["al"]["S"])
        )
        if "al" in item
        else (),
        events=int(item["ev"]["N"]),
    )


class DynamoMeteringLedger:
    def __init__(self, client: Any, table_name: str, *, retention: timedelta) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention

    def _expires_at(self, record: MeteringRecord) -> int:
        return int((record.hour + self._retention).timestamp())

    def next_hour_to_seal(self) -> datetime | None:
        item = self._call("get_item", Key=_CURSOR, ConsistentRead=True).get("Item")
        return parse_hour_key(item["next"]["S"]) if item else None

    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        # An hour's records may be stored already: sent early as a leaving buyer's final usage, or by a run killed
        # before it moved the cursor. Overwriting them would reset an outcome to pending (and a resend could come
        # back CustomerNotSubscribed once the subscription ended) or change a total already stored.
        stored = {
            (r.hour, r.key): (r, status) for hour in {r.hour for r in records} for r, status in self._stored(hour)
        }
        to_send: list[MeteringRecord] = []
        new: list[MeteringRecord] = []
        for record in records:
            found = stored.get((record.hour, record.key))
            if found is None:
                new.append(record)
                to_send.append(record)
            else:
                if found[0].quantity != record.quantity:
                    # usage landed in the hour after its record was stored (in-flight margin exceeded): it is not
                    # billed, and Marketplace would refuse another total as DuplicateRecord
                    logger.warning(
                        "sealed total differs from the stored one",
                        hour=hour_key(record.hour),
                        record=record.key,
                        stored=str(found[0].quantity),
                        sealed=str(record.quantity),
                    )
                    metrics.add_metric(name="SealedTotalMismatch", unit=MetricUnit.Count, value=1)
                if found[1] == "pending":
                    to_send.append(found[0])
            stored[(record.hour, record.key)] = (record, "listed")  # once, if ``records`` names it twice
        items = []
        for record in new:
            item = _record_item(record, self._expires_at(record))
            item["s"] = {"S": "pending"}
            item["gsi1pk"] = {"S": PENDING}
            item["gsi1sk"] = {"S": f"{hour_key(record.hour)}#{record.key}"}
            items.append(item)
        self._batch_put(items)
        return to_send

    def _stored(self, hour: datetime) -> Iterator[tuple[MeteringRecord, str]]:
        try:
            for page in self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"REC#{hour_key(hour)}"}},
                ConsistentRead=True,
            ):
                yield from ((record_from_item(item), item["s"]["S"]) for item in page["Items"])
        except ClientError as error:
            raise storage_error(error) from error

    def seal(self, hour: datetime) -> bool:
        try:
            self._call(
                "put_item",
                Item={**_CURSOR, "next": {"S": hour_key(hour + timedelta(hours=1))}, "sealed": {"S": hour_key(hour)}},
                ConditionExpression="attribute_not_exists(pk) OR #next = :hour",
                ExpressionAttributeNames={"#next": "next"},
                ExpressionAttributeValues={":hour": {"S": hour_key(hour)}},
            )
        except ConditionFailed:
            return False
        return True

    def pending(self) -> Iterator[MeteringRecord]:
        try:
            for page in self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pending",
                ExpressionAttributeValues={":pending": {"S": PENDING}},
            ):
                yield from (record_from_item(item) for item in page["Items"])
        except ClientError as error:
            raise storage_error(error) from error

    def write_results(self, results: Sequence[RecordResult]) -> None:
        items = []
        for result in results:
            # the same total as sealed, now with its outcome; leaving the PENDING index
            item = _record_item(result.record, self._expires_at(result.record))
            item["s"] = {"S": result.status}
            if result.metering_record_id:
                item["m"] = {"S": result.metering_record_id}
            if result.reason:
                item["e"] = {"S": result.reason}
            items.append(item)
        self._batch_put(items)

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"CARRY#{hour_key(hour)}"}},
                ConsistentRead=True,
            )
            return [record_from_item(item) for page in pages for item in page["Items"]]
        except ClientError as error:
            raise storage_error(error) from error

    def write_carry(self, records: Sequence[MeteringRecord]) -> None:
        items = []
        for record in records:
            item = _record_item(record, self._expires_at(record))
            item["pk"] = {"S": f"CARRY#{hour_key(record.hour)}"}
            items.append(item)
        self._batch_put(items)

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool:
        try:
            self._call(
                "put_item",
                Item={**_LEASE, "owner": {"S": owner}, "until": {"N": str(until.timestamp())}},
                ConditionExpression="attribute_not_exists(pk) OR #until < :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": {"N": str(now.timestamp())}},
            )
        except ConditionFailed:
            return False
        return True

    def release_lease(self, owner: str) -> None:
        # already expired and taken over by another flush: the lease is theirs now
        with contextlib.suppress(ConditionFailed):
            self._call(
                "delete_item",
                Key=_LEASE,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
            attempt = 0
            while requests:
                response = self._batch_write({self._table: requests})
                requests = response.get("UnprocessedItems", {}).get(self._table, [])
                if requests:
                    attempt += 1
                    if attempt > 8:
                        raise StorageError("DynamoDB left items unprocessed", code="Unprocessed", retryable=True)
                    time.sleep(min(2.0, 0.05 * 2**attempt))

    def _batch_write(self, request_items: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self._client.batch_write_item(RequestItems=request_items)
        except ClientError as error:
            raise storage_error(error) from error
        return response

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **request)
        except ClientError as error:
            if condition_failed(error):
                raise ConditionFailed(str(error), code="ConditionalCheckFailedException", retryable=False) from error
            raise storage_error(error) from error
        return response
