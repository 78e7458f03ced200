"""The metering ledger as an operator sees it: each sealed hour's records with their outcome, and the one write an
operator may make, putting a parked record back in the PENDING index unchanged (``functions.flush.ledger`` layout)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.flush.ledger import PENDING, DynamoMeteringLedger
from functions.flush.ledger import record_from_item as record_of_item
from functions.flush.records import MeteringRecord
from functions.storage.dynamodb import storage_error
from functions.usage.model import hour_key

# what the flush writes once Marketplace (or the flush itself) has decided a record's fate
PARKED_STATUSES = frozenset({"failed", "duplicate", "not_subscribed"})


@dataclass(frozen=True)
class MeteringEntry:
    record: MeteringRecord
    status: str  # pending | sent | failed | duplicate | not_subscribed; open | unsealed for hours not sealed yet
    metering_record_id: str | None = None
    reason: str | None = None


def _entry(item: dict[str, Any]) -> MeteringEntry:
    return MeteringEntry(
        record=record_of_item(item),
        status=item["s"]["S"],
        metering_record_id=item.get("m", {}).get("S"),
        reason=item.get("e", {}).get("S"),
    )


class DynamoMeteringView:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._ledger = DynamoMeteringLedger(
            client, table_name, retention=timedelta(0)
        )  # read only: retention shapes writes

    def next_hour_to_seal(self) -> datetime | None:
        return self._ledger.next_hour_to_seal()

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]:
        try:
            for page in self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"REC#{hour_key(hour)}"}},
            ):
                yield from (_entry(item) for item in page["Items"])
        except ClientError as error:
            raise storage_error(error) from error

    def pending_count(self) -> int:
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pending",
                ExpressionAttributeValues={":pending": {"S": PENDING}},
                Select="COUNT",
            )
            return sum(int(page["Count"]) for page in pages)
        except ClientError as error:
            raise storage_error(error) from error

    def requeue(self, entry: MeteringEntry) -> bool:
        """Put a parked record back in the PENDING index, its quantity untouched; False if it is no longer the
        parked record the operator saw (another flush or redrive changed it meanwhile)."""
        record = entry.record
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"REC#{hour_key(record.hour)}"}, "sk": {"S": record.key}},
                UpdateExpression="SET s = :pending_status, gsi1pk = :pending, gsi1sk = :order REMOVE e",
                ConditionExpression="s = :status AND q = :quantity AND attribute_not_exists(m)",
                ExpressionAttributeValues={
                    ":pending_status": {"S": "pending"},
                    ":pending": {"S": PENDING},
                    ":order": {"S": f"{hour_key(record.hour)}#{record.key}"},
                    ":status": {"S": entry.status},
                    ":quantity": {"S": str(record.quantity)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise storage_error(error) from error
        return True
