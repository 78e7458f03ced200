"""Our own storage exceptions: callers never see botocore's ClientError (``functions.storage.dynamodb`` maps it)."""

from __future__ import annotations


class StorageError(RuntimeError):
    """DynamoDB failed; ``retryable`` says whether trying again later may succeed, ``retry_after`` (seconds) how much
    later at the earliest, where that is known."""

    def __init__(self, message: str, *, code: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class ConditionFailed(StorageError):
    """A conditional write found the item in another state (a duplicate, a newer version)."""
