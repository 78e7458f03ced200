"""CloudTrail's event history of BatchMeterUsage calls, read with LookupEvents: the audit's TrailReader (the flush's
hourly check and the operator's ``cli reconcile``).

Each event's ``CloudTrailEvent`` is the logged call (AWS Marketplace API Reference, "Logging AWS Marketplace Metering
API calls with CloudTrail"): ``responseElements.results[]`` holds each record's ``usageRecord``, ``meteringRecordId``
and ``status``, with lowerCamel member names and timestamps written ``Apr 19, 2018 4:32:50 PM``. Refused calls (an
``errorCode``, no response) billed nothing and are skipped. Needs ``cloudtrail:LookupEvents``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.flush.audit import TrailResult, TrailUnavailable
from functions.usage.model import hour_of

EVENT_SOURCE = "metering-marketplace.amazonaws.com"
_TIME_FORMATS = ("%b %d, %Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")


def _moment(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
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


def results_of(event: dict[str, Any], event_time: datetime) -> list[TrailResult]:
    """The record results of one logged BatchMeterUsage call (none for a refused call)."""
    if event.get("eventName") != "BatchMeterUsage" or event.get("errorCode"):
        return []
    product = (event.get("requestParameters") or {}).get("productCode")
    found: list[TrailResult] = []
    for result in (event.get("responseElements") or {}).get("results") or []:
        record = result.get("usageRecord") or {}
        moment = _moment(record.get("timestamp"))
        customer = _member(record, "licenseArn", "customerIdentifier")
        quantity = _member(record, "quantityAsDecimal", "quantity")
        if moment is None or customer is None or record.get("dimension") is None:
            continue
        try:
            amount = Decimal(str(quantity if quantity is not None else 0))
        except InvalidOperation:
            continue
        found.append(
            TrailResult(
                customer=str(customer),
                customer_aws_account_id=_member(record, "customerAWSAccountID", "customerAWSAccountId"),
                dimension=str(record["dimension"]),
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
    """LookupEvents on event source ``metering-marketplace.amazonaws.com``, every page."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def metering_results(self, start: datetime) -> Iterator[TrailResult]:
        # no EndTime: up to CloudTrail's own now, whatever this machine's clock says
        pages = self._client.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": EVENT_SOURCE}], StartTime=start
        )
        try:
            for page in pages:
                for item in page["Events"]:
                    try:
                        event = json.loads(item.get("CloudTrailEvent") or "{}")
                    except ValueError:
                        continue
                    yield from results_of(event, item["EventTime"])
        except (ClientError, BotoCoreError) as error:
            raise TrailUnavailable(f"CloudTrail LookupEvents: {error}") from error
