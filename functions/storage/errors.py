"""Our own storage exceptions: callers never see botocore's ClientError (``functions.storage.dynamodb`` maps it)."""

from __future__ import annotations


class StorageError(RuntimeError):
    """DynamoDB failed; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class ConditionFailed(StorageError):
    """A conditional write found the item in another state (a duplicate, a newer version)."""
