"""``POST /usage``: a batch of usage events, all validated before any is stored; each bad field named."""

from __future__ import annotations

import base64
import binascii
import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import snapstart
from functions.handlers import imported
from functions.observability import for_stage, logger, metrics
from functions.settings import get_settings
from functions.storage.errors import StorageError
from functions.usage.ingest import FieldError, UsageRejected
from functions.wiring import usage as usage_wiring

snapstart.register(usage_wiring.build.cache_clear)  # before the snapshot: see functions.snapstart

MAX_BODY_BYTES = 256 * 1024
JSON_CONTENT_TYPE = "application/json"

app = APIGatewayRestResolver(debug=False)


class RequestRejected(Exception):
    def __init__(self, status: HTTPStatus, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = FieldError(field, message)


def _errors(status: HTTPStatus, errors: tuple[FieldError, ...]) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=JSON_CONTENT_TYPE,
        body={"message": "no event was stored", "errors": [{"field": e.field, "message": e.message} for e in errors]},
    )


def _json_body() -> Any:
    event = app.current_event
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != JSON_CONTENT_TYPE:
        raise RequestRejected(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content-type", f"send {JSON_CONTENT_TYPE}")
    raw = event.body or ""
    try:
        body = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode()
    except (binascii.Error, ValueError):
        raise RequestRejected(HTTPStatus.BAD_REQUEST, "body", "is not valid base64") from None
    if len(body) > MAX_BODY_BYTES:
        raise RequestRejected(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body", f"is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestRejected(HTTPStatus.BAD_REQUEST, "body", f"is not valid JSON ({error})") from None
    except RecursionError:
        raise RequestRejected(HTTPStatus.BAD_REQUEST, "body", "is nested too deeply") from None


@app.post("/usage")
def post_usage() -> Response[dict[str, Any]]:
    body = _json_body()
    if not isinstance(body, dict):
        raise RequestRejected(HTTPStatus.BAD_REQUEST, "body", 'must be a JSON object {"events": [...]}')
    result = usage_wiring.build(get_settings()).ingest_body(body)
    metrics.add_metric(name="UsageEventsAccepted", unit="Count", value=len(result.accepted))
    metrics.add_metric(name="UsageEventsDuplicate", unit="Count", value=len(result.duplicates))
    return Response(status_code=HTTPStatus.OK, content_type=JSON_CONTENT_TYPE, body=result.to_dict())


def request_rejected(error: RequestRejected) -> Response[dict[str, Any]]:
    return _errors(error.status, (error.error,))


# an event breaks a rule | an event lacks its timestamp | an event id was sent before with other content
_REFUSALS = {
    "invalid": HTTPStatus.UNPROCESSABLE_ENTITY,
    "malformed": HTTPStatus.BAD_REQUEST,
    "conflict": HTTPStatus.CONFLICT,
}


def usage_rejected(error: UsageRejected) -> Response[dict[str, Any]]:
    logger.info("usage refused", extra={"errors": len(error.errors), "kind": error.kind})
    response = _errors(_REFUSALS[error.kind], error.errors)
    if error.duplicates:
        # a resend: what an earlier request stored counts once, as stored, and the producer is told so
        assert isinstance(response.body, dict)
        response.body["results"] = [{"event_id": e, "status": "duplicate"} for e in error.duplicates]
        response.body["message"] = (
            "no event of this request was stored; those listed in results were stored by an earlier request and count"
            " once"
        )
    return response


def storage_failed(error: StorageError) -> Response[dict[str, Any]]:
    # Some events may be stored: a retry of the same batch counts them once (same ids), so retrying is safe; but
    # only a retryable failure (throttling, a 5xx) is worth it: anything else is ours to fix, and says so.
    if error.retryable:
        logger.warning("usage storage failed", extra={"code": error.code})
        # a resend while its first send may still be written is answered once that write has landed or never will
        wait = {"Retry-After": str(int(error.retry_after))} if error.retry_after else None
        message = str(error) if error.retry_after else "storage is busy"
        return Response(
            status_code=HTTPStatus.SERVICE_UNAVAILABLE,
            content_type=JSON_CONTENT_TYPE,
            body={"message": f"{message}: send the same batch again (events already stored count once)"},
            headers=wait,
        )
    logger.error("usage storage refused a write", extra={"code": error.code})
    return Response(
        status_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        content_type=JSON_CONTENT_TYPE,
        body={"message": "the usage store refused this batch: sending it again will not help; the seller is alerted"},
    )


app.exception_handler(RequestRejected)(request_rejected)
app.exception_handler(UsageRejected)(usage_rejected)
app.exception_handler(StorageError)(storage_failed)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    for_stage(get_settings().stage)
    return app.resolve(event, context)


imported()  # last: see functions.handlers
