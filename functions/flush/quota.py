"""The call schedule every BatchMeterUsage sender of the account and Region shares (``sender.QuotaSlots``), kept in
the metering table: ``pk = QUOTA, sk = BatchMeterUsage``, ``next`` the time (seconds since the epoch) of the first
slot nobody has taken.

Taking slots while others are taking them is DynamoDB's atomic arithmetic, never a read and a write that could race:
``SET next = next + span`` on the condition that the schedule is busy (``next`` not in the past), and answered with the
new ``next``, so the slots taken are the span before it. Where the schedule is idle (or new), a conditional update
starts it at ``now``. One write unit per block of slots (``SharedTokenBucket``: a few a second at most).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions.storage.dynamodb import condition_failed, storage_error
from functions.storage.errors import StorageError

_KEY = {"pk": {"S": "QUOTA"}, "sk": {"S": "BatchMeterUsage"}}
_ATTEMPTS = 8  # each failed attempt means another sender moved the schedule meanwhile: it cannot fail for long


def _number(seconds: float) -> dict[str, str]:
    return {"N": f"{seconds:.6f}"}


class DynamoQuotaSlots:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def reserve(self, count: int, interval: float, now: float) -> float:
        span = count * interval
        for _ in range(_ATTEMPTS):
            try:
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=_KEY,
                    UpdateExpression="SET #next = #next + :span",
                    ConditionExpression="#next >= :now",
                    ExpressionAttributeNames={"#next": "next"},
                    ExpressionAttributeValues={":span": _number(span), ":now": _number(now)},
                    ReturnValues="UPDATED_NEW",
                )
                return float(answer["Attributes"]["next"]["N"]) - span
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error
            try:  # idle: nobody holds a slot from now on (an update too: the senders' roles are granted no put here)
                self._client.update_item(
                    TableName=self._table,
                    Key=_KEY,
                    UpdateExpression="SET #next = :end",
                    ConditionExpression="attribute_not_exists(#next) OR #next < :now",
                    ExpressionAttributeNames={"#next": "next"},
                    ExpressionAttributeValues={":end": _number(now + span), ":now": _number(now)},
                )
                return now
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error
        raise StorageError("the metering call schedule kept moving", code="QuotaContended", retryable=True)
