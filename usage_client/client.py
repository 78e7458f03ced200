"""Send usage to ``POST /usage`` from a producer's own code: signed, batched, retried only when that is safe.

- Deployed: requests are signed with SigV4 (service ``execute-api``) with the caller's AWS credentials (a boto3
  Session: environment, profile, role), as the API's IAM authorization requires.
- Local (``UsageClient.local()``): the stack ``make run`` started, with the ``x-api-key`` it printed, found in the file
  it writes (``.run/local.json``).
- Each event gets its id and timestamp once, when it is made (``usage_event``) or first sent: every retry sends the
  same ones, and the API counts an id once within its hour, so a retry never double counts.
- Batches follow the API's limits (``usage_client.limits``, generated from the API's own constants).
- Retried with backoff: throttling (429), 5xx and lost connections only. A refused batch (4xx) is never retried:
  each refused event is reported with the field and the reason, and nothing of that batch was stored.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from usage_client.limits import EVENT_ID_MAX_LENGTH, EVENT_ID_PATTERN, MAX_BODY_BYTES, MAX_EVENTS

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# the longest Retry-After honoured (the API asks for 60 s at most)
MAX_RETRY_AFTER_SECONDS = 120.0
DEFAULT_RUN_FILE = Path(".run") / "local.json"
_EVENT_PATH = re.compile(r"^events\[(\d+)\](.*)$")
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\Z")
_EVENT_ID = re.compile(EVENT_ID_PATTERN)


class UsageClientError(Exception):
    """Base of what the client raises."""


class UsageApiError(UsageClientError):
    """The API refused the request itself (not an event of it): not authorized, or not a request it takes.
    Nothing of that batch was stored; earlier batches were (``sent``). Once the cause is fixed, send ``unsent``
    (those events with their ids and timestamps), not the events first given: they would get new ids, and what was
    stored would count again."""

    def __init__(self, status: int, message: str, sent: SendResult, unsent: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"POST /usage answered {status}: {message}; {len(unsent)} events unsent")
        self.status = status
        self.sent = sent
        self.unsent = tuple(unsent)


class UsageApiUnavailable(UsageClientError):
    """Retryable failures went on past the last attempt. Events of the unsent batches may or may not be stored: send
    the same events again (same ids and timestamps) and they count once."""

    def __init__(self, reason: str, sent: SendResult, unsent: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"POST /usage kept failing ({reason}); {len(unsent)} events unsent, send them again")
        self.sent = sent
        self.unsent = tuple(unsent)


@dataclass(frozen=True)
class Rejection:
    event: dict[str, Any]  # as sent, with its event_id and timestamp
    field: str  # the event's field, e.g. "quantity" ("" for the event as a whole)
    message: str


class EventsRejected(UsageClientError):
    """The API refused events: each refusal names the event and the field. The batches holding them stored nothing;
    the other batches were stored (``sent``)."""

    def __init__(self, rejections: Sequence[Rejection], sent: SendResult) -> None:
        lines = [f"{r.event.get('event_id')}: {r.field or 'event'}: {r.message}" for r in rejections]
        super().__init__(f"{len(rejections)} refused event(s):\n  " + "\n  ".join(lines))
        self.rejections = tuple(rejections)
        self.sent = sent


@dataclass
class SendResult:
    accepted: list[str] = field(default_factory=list)  # event ids stored by this call
    duplicates: list[str] = field(default_factory=list)  # event ids stored before (a resend): counted once
    requests: int = 0  # HTTP requests made, retries included


def usage_event(
    product_code: str,
    dimension: str,
    quantity: int | Decimal | str,
    *,
    license_arn: str | None = None,
    customer_aws_account_id: str | None = None,
    customer_identifier: str | None = None,
    allocations: Sequence[Mapping[str, Any]] | None = None,
    event_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """One event as the API takes it, with its id and timestamp fixed now: keep it to send it again.

    Give ``event_id`` (your own id of what was used, at most 128 of ``A-Za-z0-9._:/+=@-``) when the same usage may
    be produced again by another process: the API counts an id once within the hour of its timestamp."""
    event: dict[str, Any] = {
        "event_id": event_id or uuid.uuid4().hex,
        "product_code": product_code,
        "dimension": dimension,
        "quantity": _quantity(quantity),
        "timestamp": _timestamp(timestamp or datetime.now(UTC)),
    }
    naming = {
        "license_arn": license_arn,
        "customer_aws_account_id": customer_aws_account_id,
        "customer_identifier": customer_identifier,
    }
    event.update({name: value for name, value in naming.items() if value is not None})
    if allocations is not None:
        event["allocations"] = [{**a, "quantity": _quantity(a["quantity"])} for a in allocations]
    return event


def _quantity(value: int | Decimal | str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise TypeError(f"quantity must be an int, a Decimal or a decimal string, not {type(value).__name__}")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else f"{value.normalize():f}"
    return value


def _timestamp(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (e.g. datetime.now(UTC))")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def completed_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with an id and timestamp of its own (fixed here, once, for every attempt)."""
    completed = dict(event)
    completed.setdefault("event_id", uuid.uuid4().hex)
    completed["timestamp"] = _timestamp(completed.get("timestamp") or datetime.now(UTC))
    if isinstance(completed.get("quantity"), Decimal):
        completed["quantity"] = _quantity(completed["quantity"])
    event_id = completed["event_id"]
    if not isinstance(event_id, str) or len(event_id) > EVENT_ID_MAX_LENGTH or not _EVENT_ID.fullmatch(event_id):
        raise ValueError(f"event_id {event_id!r}: at most {EVENT_ID_MAX_LENGTH} of A-Za-z0-9._:/+=@-")
    return completed


def request_body(events: Sequence[dict[str, Any]]) -> bytes:
    return json.dumps({"events": list(events)}, separators=(",", ":")).encode()


def batches(events: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The events in order, in batches within the API's limits (events per request, bytes per body)."""
    batch: list[dict[str, Any]] = []
    for event in events:
        if len(request_body([event])) > MAX_BODY_BYTES:
            raise ValueError(f"event {event['event_id']!r} alone is larger than the API's {MAX_BODY_BYTES} bytes")
        if batch and (len(batch) == MAX_EVENTS or len(request_body([*batch, event])) > MAX_BODY_BYTES):
            yield batch
            batch = []
        batch.append(event)
    if batch:
        yield batch


Signer = Callable[[str, bytes, dict[str, str]], dict[str, str]]


def sigv4_signer(region: str, session: Any = None) -> Signer:
    """Headers signing a request with the session's credentials (boto3's default chain unless given), fresh for
    each attempt: a signature is valid for five minutes and credentials may rotate."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = session or boto3.Session()

    def sign(url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        credentials = session.get_credentials()
        if credentials is None:
            raise UsageClientError("no AWS credentials found (environment, profile or role) to sign the request")
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    return sign


def region_of(url: str) -> str | None:
    """The Region of an API Gateway URL (https://ID.execute-api.REGION.amazonaws.com/STAGE)."""
    found = _REGION_IN_HOST.search(urllib.parse.urlsplit(url).hostname or "")
    return found.group(1) if found else None


class UsageClient:
    """``UsageClient(usage_api_url)`` for a deployed stack (its ``UsageApiUrl`` output), ``UsageClient.local()`` for
    ``make run``'s. ``send(events)`` stores them all or raises, saying what was stored and what was not."""

    def __init__(
        self,
        url: str,
        *,
        region: str | None = None,
        session: Any = None,
        api_key: str | None = None,
        attempts: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 10.0,
        timeout_seconds: float = 35.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise ValueError(f"the usage API's URL must be http(s): {url!r}")
        self.url = url.rstrip("/") if url.rstrip("/").endswith("/usage") else url.rstrip("/") + "/usage"
        if api_key is not None:
            self._sign: Signer = lambda _url, _body, headers: {**headers, "x-api-key": api_key}
        else:
            resolved = region or region_of(self.url) or (session.region_name if session else None)
            if not resolved:
                import boto3

                resolved = boto3.Session().region_name
            if not resolved:
                raise UsageClientError("name the API's Region: region=... (it is not in the URL)")
            self._sign = sigv4_signer(resolved, session)
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep

    @classmethod
    def local(cls, run_file: str | Path = DEFAULT_RUN_FILE, **options: Any) -> UsageClient:
        """The stack ``make run`` is running, found through the file it writes (run from the repository's root, or
        give its path)."""
        path = Path(run_file)
        try:
            described = json.loads(path.read_text())
            url, key = described["api_url"], described["usage_api_key"]
        except (OSError, ValueError, KeyError) as error:
            raise UsageClientError(f"no local stack described in {path} (is `make run` running?): {error}") from None
        return cls(url, api_key=key, **options)

    def send(self, events: Iterable[Mapping[str, Any]]) -> SendResult:
        """Send every event, in batches within the API's limits. Raises EventsRejected (naming each refused event
        and field), UsageApiError (a request refused as a whole) or UsageApiUnavailable; each says what was
        stored."""
        completed = [completed_event(event) for event in events]
        result = SendResult()
        rejections: list[Rejection] = []
        pending = list(batches(completed))
        for index, batch in enumerate(pending):
            unsent = [e for b in pending[index:] for e in b]
            status, answer = self._post(batch, result, unsent)
            if status == 200:
                for entry in answer.get("results", ()):
                    (result.accepted if entry["status"] == "accepted" else result.duplicates).append(entry["event_id"])
            elif status in (400, 409, 422) and answer.get("errors"):
                # events named: refused (409: sent before with other content, the version stored counts); the
                # batch's others were not stored by this request (nor by an earlier one, unless listed in results)
                rejections.extend(rejections_of(batch, answer))
                for entry in answer.get("results", ()):
                    result.duplicates.append(entry["event_id"])
            else:
                raise UsageApiError(status, _message(answer), result, unsent)
        if rejections:
            raise EventsRejected(rejections, result)
        return result

    def _post(
        self, batch: list[dict[str, Any]], result: SendResult, unsent: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        # the very same bytes every attempt: the API counts an event once per customer and id, and a resend with another
        # timestamp (a retry that re-stamps) or quantity would be refused as a conflict, not counted twice
        body = request_body(batch)
        reason = ""
        retry_after = 0.0
        for attempt in range(self.attempts):
            if attempt:
                delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
                # jitter: producers retrying together spread out; a 503's Retry-After (the first send of an event
                # may still be being written) is waited for in full
                self._sleep(max(random.uniform(delay / 2, delay), min(retry_after, MAX_RETRY_AFTER_SECONDS)))
                retry_after = 0.0
            headers = self._sign(self.url, body, {"Content-Type": "application/json"})
            request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310 (http(s))
            result.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                    return response.status, _json(response.read())
            except urllib.error.HTTPError as error:
                answer = _json(error.read())
                if error.code not in RETRYABLE_STATUSES:
                    return error.code, answer
                reason = f"{error.code} {_message(answer)}"
                retry_after = _seconds(error.headers.get("Retry-After"))
            except (TimeoutError, urllib.error.URLError, http.client.HTTPException, ConnectionError) as error:
                reason = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
        raise UsageApiUnavailable(reason, result, unsent)


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _json(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except ValueError:
        return {"message": raw[:200].decode(errors="replace")}
    return answer if isinstance(answer, dict) else {"message": str(answer)}


def _message(answer: Mapping[str, Any]) -> str:
    errors = answer.get("errors") or []
    details = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    return f"{answer.get('message', '')}{f' ({details})' if details else ''}"


def rejections_of(batch: Sequence[dict[str, Any]], answer: Mapping[str, Any]) -> list[Rejection]:
    """Each refused field of a batch, with the event it belongs to (``events[3].quantity``: the batch's fourth)."""
    found = []
    for error in answer.get("errors") or []:
        where = _EVENT_PATH.fullmatch(str(error.get("field", "")))
        if where and int(where.group(1)) < len(batch):
            found.append(Rejection(batch[int(where.group(1))], where.group(2).lstrip("."), error.get("message", "")))
        else:  # the batch as a whole ("events": too many): every event of it is refused with it
            found.extend(Rejection(event, str(error.get("field")), error.get("message", "")) for event in batch)
    return found
