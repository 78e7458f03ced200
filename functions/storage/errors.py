"""Our own storage exceptions: callers never see botocore's ClientError."""

from __future__ import annotations

from botocore.exceptions import ClientError

_THROTTLING = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


class StorageError(RuntimeError):
    """DynamoDB failed; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable

    @classmethod
    def from_client_error(cls, error: ClientError) -> StorageError:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return cls(f"DynamoDB {code}: {error}", code=code, retryable=code in _THROTTLING or status >= 500)


class ConditionFailed(StorageError):
    """A conditional write found the item in another state (a duplicate, a newer version)."""
