"""The two refusals the emulator raises: :class:`ApiError` on the AWS side, which the HTTP layer turns into an AWS
error body, and :class:`AdminError` on the admin side (admin API, buyer pages, Python callers)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import UnknownServiceError
from botocore.model import NoShapeFoundError

from .model_validation import service_model


class ApiError(Exception):
    """An AWS-shaped error: ``__type`` code, message, HTTP status (see :func:`default_status`), and the other members
    the error's shape models (``fields``: ResourceNotFoundException's ``resourceId``, ValidationException's
    ``reason``...), sent in the body beside the message."""

    def __init__(
        self, code: str, message: str, status: int | None = None, fields: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # a status given here wins; otherwise the service's model decides once the service is known (for_service)
        self.status_given = status is not None
        self.status = status if status is not None else default_status(code)
        self.fields = dict(fields or {})

    def for_service(self, service: str) -> ApiError:
        """This error as ``service`` answers it: with the status its model gives the code, unless one was given."""
        if not self.status_given:
            self.status = modelled_status(service, self.code)
        return self


# Statuses the AWS service model sets with Smithy's httpError trait. botocore's JSON model drops that trait for the
# metering and entitlement services; the AWS SDK for JavaScript v3 keeps it in its error schemas, and
# tests/emulator/test_js_sdk.py checks every modelled error of both services against them.
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
    if code in {"InternalServiceErrorException", "InternalServerException"}:
        return 500
    return 400


def modelled_status(service: str, code: str) -> int:
    """The status botocore's model of ``service`` gives ``code`` where it keeps the error trait (the Agreement
    Service's model does: ThrottlingException is 429 there, 400 in the metering model); else :func:`default_status`."""
    try:
        shape = service_model(service).shape_for(code)
    except (NoShapeFoundError, UnknownServiceError):
        return default_status(code)
    status = (shape.metadata.get("error") or {}).get("httpStatusCode")
    return int(status) if status else default_status(code)


class AdminError(Exception):
    """A refused admin request: 404 for unknown things, 400 for bad input, 409 for wrong state."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def normalize_code(code: str) -> str:
    """Accept ``Throttling`` as well as ``ThrottlingException`` in fault queues: people type both."""
    if code.endswith("Exception") or code in {"ValidationException", "LostResponse", "DryRunOperation"}:
        return code
    if code in {"SerializationException"}:
        return code
    return code + "Exception"
