"""Lifecycle event times, kept per subject (what an event names the buyer by) in the customers table.

Layout: ``pk = <subject>`` (``AGMT#<agreement id>``, ``LIC#<l-...>``, ``LEGACY#<product code>#<identifier>``),
``sk = "LIFECYCLE"``, one attribute per kind (``lc_activated``, ...) holding the latest event time seen. Each event
is one conditional ``SET lc_<kind> = :t`` (only if absent or older): atomic, commutative and idempotent, so
duplicates and every arrival order converge. A buyer's state is derived when the customer is read, by merging
the subjects that name them (see ``customer_times``): so an event that arrives before the buyer registered
needs no special path, it is simply there when the customer is read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from functions.customers.model import Customer
from functions.lifecycle.state import LifecycleKind, LifecycleTimes
from functions.lifecycle.subjects import agreement_subject, legacy_subject, licence_id, licence_subject
from functions.storage.errors import StorageError

LIFECYCLE_SK = "LIFECYCLE"
_BATCH_GET = 100


def time_text(moment: datetime) -> str:
    """Fixed-width UTC text, so DynamoDB's string comparison orders times correctly."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def is_lifecycle_item(item: dict[str, Any]) -> bool:
    return bool(item.get("sk", {}).get("S") == LIFECYCLE_SK)


def times_of_item(item: dict[str, Any]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind in LifecycleKind:
        if f"lc_{kind.value}" in item:
            times = times.merge(kind, parse_time(item[f"lc_{kind.value}"]["S"]))
    return times


def merged(*all_times: LifecycleTimes) -> LifecycleTimes:
    result = LifecycleTimes()
    for times in all_times:
        for kind in LifecycleKind:
            at: datetime | None = getattr(times, kind.value)
            if at is not None:
                result = result.merge(kind, at)
    return result


def subjects_of(customer: Customer) -> list[str]:
    subjects = []
    if customer.agreement_id:
        subjects.append(agreement_subject(customer.agreement_id))
    licence = licence_id(customer.ref.license_arn or customer.legacy_license_arn)
    if licence:
        subjects.append(licence_subject(licence))
    if customer.ref.customer_identifier:
        subjects.append(legacy_subject(customer.ref.product_code, customer.ref.customer_identifier))
    return subjects


def customer_times(customer: Customer, by_subject: dict[str, LifecycleTimes]) -> LifecycleTimes:
    """The buyer's lifecycle: every subject naming them, merged.

    EventBridge sends no "unsubscribe-success": the first of Purchase Agreement Ended and License Deprovisioned
    opens the final hour (ending), and once both have been seen for the current subscription it is over (ended).
    """
    agreement = by_subject.get(agreement_subject(customer.agreement_id or ""), LifecycleTimes())
    licence = by_subject.get(licence_subject(licence_id(customer.ref.license_arn or customer.legacy_license_arn) or ""))
    licence = licence or LifecycleTimes()
    times = merged(*(by_subject[s] for s in subjects_of(customer) if s in by_subject))
    if agreement.ending is not None and licence.ending is not None:
        both = max(agreement.ending, licence.ending)
        if times.activated is None or min(agreement.ending, licence.ending) >= times.activated:
            times = times.merge(LifecycleKind.ENDED, both)
    return times


class LifecycleStore(Protocol):
    def record(self, subject: str, kind: LifecycleKind, at: datetime) -> bool:
        """Keep ``at`` as the latest ``kind`` time of ``subject``; False if a time as new was already kept."""
        ...

    def times(self, subjects: Sequence[str]) -> dict[str, LifecycleTimes]:
        """Strongly consistent: an event recorded before this call is seen."""
        ...


class DynamoLifecycleStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record(self, subject: str, kind: LifecycleKind, at: datetime) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "sk": {"S": LIFECYCLE_SK}},
                UpdateExpression="SET #t = :t",
                ConditionExpression="attribute_not_exists(#t) OR #t < :t",
                ExpressionAttributeNames={"#t": f"lc_{kind.value}"},
                ExpressionAttributeValues={":t": {"S": time_text(at)}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise StorageError.from_client_error(error) from error
        return True

    def times(self, subjects: Sequence[str]) -> dict[str, LifecycleTimes]:
        found: dict[str, LifecycleTimes] = {}
        unique = list(dict.fromkeys(subjects))
        for start in range(0, len(unique), _BATCH_GET):
            for item in self._batch_get(unique[start : start + _BATCH_GET]):
                found[item["pk"]["S"]] = times_of_item(item)
        return found

    def _batch_get(self, subjects: Iterable[str]) -> list[dict[str, Any]]:
        keys = [{"pk": {"S": s}, "sk": {"S": LIFECYCLE_SK}} for s in subjects]
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        items: list[dict[str, Any]] = []
        attempt = 0
        while request:
            try:
                response = self._client.batch_get_item(RequestItems=request)
            except ClientError as error:
                raise StorageError.from_client_error(error) from error
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if request:
                attempt += 1
                if attempt > 8:
                    raise StorageError("DynamoDB left keys unprocessed", code="Unprocessed", retryable=True)
                time.sleep(min(2.0, 0.05 * 2**attempt))
        return items
