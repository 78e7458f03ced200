"""The one exception type the AWS-facing operations raise; the HTTP layer turns it into an AWS error body."""

from __future__ import annotations


class ApiError(Exception):
    """An AWS-shaped error: ``__type`` code, message, HTTP status.

    Only InternalServiceErrorException is a 5xx fault in the service model; everything else the
    Marketplace APIs answer with is a 400, which is what makes botocore classify retryability correctly.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else default_status(code)


def default_status(code: str) -> int:
    if code == "InternalServiceErrorException":
        return 500
    if code in {"MissingAuthenticationTokenException", "InvalidSignatureException", "AccessDeniedException"}:
        return 403
    return 400


def normalize_code(code: str) -> str:
    """Accept ``Throttling`` as well as ``ThrottlingException`` in fault queues: people type both."""
    if code.endswith("Exception") or code in {"ValidationException", "LostResponse", "DryRunOperation"}:
        return code
    if code in {"SerializationException"}:
        return code
    return code + "Exception"
