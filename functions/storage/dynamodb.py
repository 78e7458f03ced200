"""What every DynamoDB adapter shares: botocore's ClientError read as our storage errors."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from functions.storage.errors import StorageError

_THROTTLING = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
_BATCH_GET = 100  # BatchGetItem's most keys per request


def storage_error(error: ClientError) -> StorageError:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return StorageError(f"DynamoDB {code}: {error}", code=code, retryable=code in _THROTTLING or status >= 500)


def condition_failed(error: ClientError) -> bool:
    """A conditional write found the item in another state: an answer, not a failure."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def raise_unless_first_condition_failed(error: ClientError) -> None:
    """Returns if a transaction was cancelled because its first item's condition failed (an answer about that item);
    raises any other failure (another condition, a conflict, throttling) as our storage error: the caller may try
    again."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise storage_error(error) from error
    reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
    if reasons[:1] != ["ConditionalCheckFailed"]:
        raise storage_error(error) from error


def batch_get(client: Any, table: str, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of ``keys`` that exist (strongly consistent), in requests of 100, unprocessed keys asked again."""
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), _BATCH_GET):
        request: dict[str, Any] = {table: {"Keys": list(keys[start : start + _BATCH_GET]), "ConsistentRead": True}}
        attempt = 0
        while request:
            try:
                response = client.batch_get_item(RequestItems=request)
            except ClientError as error:
                raise storage_error(error) from error
            items.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if request:
                attempt += 1
                if attempt > 8:
                    raise StorageError("DynamoDB left keys unprocessed", code="Unprocessed", retryable=True)
                time.sleep(min(2.0, 0.05 * 2**attempt))
    return items
