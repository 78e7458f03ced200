"""CloudTrail's event history of BatchMeterUsage calls, read with LookupEvents: the audit's TrailReader (the flush's
hourly check and the operator's ``cli reconcile``).

Each event's ``CloudTrailEvent`` is the logged call (AWS Marketplace API Reference, "Logging AWS Marketplace Metering
API calls with CloudTrail"): ``responseElements.results[]`` holds each record's ``usageRecord``, ``meteringRecordId``
and ``status``, with lowerCamel member names and timestamps written ``Apr 19, 2018 4:32:50 PM``. Refused calls (an
``errorCode``, no response) billed nothing and are skipped; anything else that cannot be read is reported to the
caller (``Unreadable``), never skipped in silence. Needs ``cloudtrail:LookupEvents``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.flush.audit import TrailResult, TrailUnavailable, Unreadable, UnreadableSink
from functions.usage.model import hour_of

EVENT_SOURCE = "metering-marketplace.amazonaws.com"
_TIME_FORMATS = ("%b %d, %Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")


def _moment(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, ValueError, OSError):  # beyond what a datetime holds: not a time
            return None
    if not isinstance(value, str):
        return None
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _member(record: dict[str, Any], *names: str) -> Any:
    # AWS's documented example spells the account member customerAWSAccountID; the API's is CustomerAWSAccountId
    for name in names:
        if record.get(name) is not None:
            return record[name]
    return None


def results_of(
    event: dict[str, Any], event_time: datetime, event_id: str | None = None
) -> list[TrailResult | Unreadable]:
    """The record results of one logged BatchMeterUsage call (none for a refused call), and each that could not be
    read (a logged call without its results, a result lacking what names its record)."""
    if event.get("eventName") != "BatchMeterUsage" or event.get("errorCode"):
        return []
    request = event.get("requestParameters")
    product = request.get("productCode") if isinstance(request, dict) else None
    response = event.get("responseElements")
    results = response.get("results") if isinstance(response, dict) else None
    if not isinstance(results, list):
        return [Unreadable(event_id, "a BatchMeterUsage call answered without a list of results")]
    found: list[TrailResult | Unreadable] = []
    for result in results:
        record = result.get("usageRecord") if isinstance(result, dict) else None
        if not isinstance(record, dict):
            found.append(Unreadable(event_id, "a result without its usageRecord"))
            continue
        moment = _moment(record.get("timestamp"))
        customer = _member(record, "licenseArn", "customerIdentifier")
        dimension = record.get("dimension")
        if moment is None or customer is None or dimension is None:
            named = {"timestamp": moment, "licenseArn or customerIdentifier": customer, "dimension": dimension}
            missing = " or ".join(name for name, value in named.items() if value is None)
            found.append(Unreadable(event_id, f"a usageRecord without a readable {missing}"))
            continue
        quantity = _member(record, "quantityAsDecimal", "quantity")
        try:
            amount = Decimal(str(quantity if quantity is not None else 0))
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite():
            found.append(Unreadable(event_id, "a usageRecord whose quantity is not a number"))
            continue
        found.append(
            TrailResult(
                customer=str(customer),
                customer_aws_account_id=_member(record, "customerAWSAccountID", "customerAWSAccountId"),
                dimension=str(dimension),
                hour=hour_of(moment),
                quantity=amount,
                status=str(result.get("status") or ""),
                metering_record_id=result.get("meteringRecordId"),
                event_time=event_time,
                product_code=product,
            )
        )
    return found


class CloudTrailReader:
    """LookupEvents on event source ``metering-marketplace.amazonaws.com``, every page; what cannot be read goes to
    ``unreadable`` (the caller counts and shows it)."""

    def __init__(self, client: Any, unreadable: UnreadableSink) -> None:
        self._client = client
        self._unreadable = unreadable

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        # without an end, no EndTime: up to CloudTrail's own now, whatever this machine's clock says
        pages = self._client.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": EVENT_SOURCE}],
            StartTime=start,
            **({} if end is None else {"EndTime": end}),
        )
        try:
            for page in pages:
                for item in page["Events"]:
                    for found in self._read(item):
                        if isinstance(found, Unreadable):
                            self._unreadable(found)
                        else:
                            yield found
        except (ClientError, BotoCoreError) as error:
            raise TrailUnavailable(f"CloudTrail LookupEvents: {error}") from error

    def _read(self, item: dict[str, Any]) -> list[TrailResult | Unreadable]:
        event_id = item.get("EventId")
        if item.get("EventName") not in (None, "BatchMeterUsage"):
            return []  # MeterUsage, RegisterUsage: not this integration's calls
        try:
            event = json.loads(item.get("CloudTrailEvent") or "")
        except ValueError:
            return [Unreadable(event_id, "its CloudTrailEvent is not JSON")]
        if not isinstance(event, dict):
            return [Unreadable(event_id, "its CloudTrailEvent is not a JSON object")]
        event_time = item.get("EventTime")
        if not isinstance(event_time, datetime):
            return [Unreadable(event_id, "no EventTime")]
        return results_of(event, event_time, event_id)
