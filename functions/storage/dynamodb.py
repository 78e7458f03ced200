"""What every DynamoDB adapter shares: botocore's ClientError read as our storage errors."""

from __future__ import annotations

from botocore.exceptions import ClientError

from functions.storage.errors import StorageError

_THROTTLING = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


def storage_error(error: ClientError) -> StorageError:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return StorageError(f"DynamoDB {code}: {error}", code=code, retryable=code in _THROTTLING or status >= 500)


def condition_failed(error: ClientError) -> bool:
    """A conditional write found the item in another state: an answer, not a failure."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
