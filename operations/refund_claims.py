"""The over-billed hours ``cli adjust --send`` asked AWS to refund, each kept under its refund's client token in the
metering table (``pk = REFUND``, ``sk = <product>#<customer>#<dimension>#<hour>``, ``token``, ``at``), so that a later
refund (another window, a new over-billed hour beside them) leaves them out: each hour is refunded once.

A claim is written before its refund is sent (conditional: no claim of the hour, or one by the same token, a retry of
the same refund) and removed only when AWS refused the refund; an answer that never came keeps it, so that hour is
never offered again under another token. No expiry: the refunds of a month are asked for months after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.storage.dynamodb import batch_get, condition_failed, storage_error
from functions.storage.times import time_text

_PK = "REFUND"


def _key(hour: str) -> dict[str, Any]:
    return {"pk": {"S": _PK}, "sk": {"S": hour}}


class DynamoRefundClaims:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def claimed(self, keys: Sequence[str]) -> dict[str, str]:
        """The client token of the refund that claimed each of these hours, where one did."""
        items = batch_get(self._client, self._table, [_key(k) for k in dict.fromkeys(keys)])
        return {item["sk"]["S"]: item["token"]["S"] for item in items}

    def claim(self, keys: Sequence[str], token: str, at: datetime) -> bool:
        """Claim every hour for the refund ``token``; False (and nothing claimed) if another refund holds one."""
        done: list[str] = []
        for key in dict.fromkeys(keys):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={**_key(key), "token": {"S": token}, "at": {"S": time_text(at)}},
                    ConditionExpression="attribute_not_exists(pk) OR #token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error
                self.release(done, token)
                return False
            done.append(key)
        return True

    def release(self, keys: Sequence[str], token: str) -> None:
        """Remove the refund ``token``'s claims of these hours (AWS refused it: nothing was refunded)."""
        for key in keys:
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(key),
                    ConditionExpression="#token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error
