"""The one exception type the AWS-facing operations raise; the HTTP layer turns it into an AWS error body."""

from __future__ import annotations


class ApiError(Exception):
    """An AWS-shaped error: ``__type`` code, message, HTTP status (see :func:`default_status`)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else default_status(code)


# Statuses the AWS service model sets with Smithy's httpError trait. botocore's JSON model drops that trait;
# the AWS SDK for JavaScript v3 keeps it in its error schemas, and tests/emulator/test_js_sdk.py checks every
# modelled error of both services against them.
MODELLED_STATUS = {"IdempotencyConflictException": 409}
# Answered by AWS's front end before the request reaches the service, so not in the service model.
FRONT_END_STATUS = {
    "MissingAuthenticationTokenException": 403,
    "InvalidSignatureException": 403,
    "AccessDeniedException": 403,
    "RequestEntityTooLargeException": 413,
}


def default_status(code: str) -> int:
    """The model's status for ``code``; otherwise Smithy's default: 500 for a server fault, 400 for the rest."""
    if code in MODELLED_STATUS:
        return MODELLED_STATUS[code]
    if code in FRONT_END_STATUS:
        return FRONT_END_STATUS[code]
    if code == "InternalServiceErrorException":
        return 500
    return 400


def normalize_code(code: str) -> str:
    """Accept ``Throttling`` as well as ``ThrottlingException`` in fault queues: people type both."""
    if code.endswith("Exception") or code in {"ValidationException", "LostResponse", "DryRunOperation"}:
        return code
    if code in {"SerializationException"}:
        return code
    return code + "Exception"
