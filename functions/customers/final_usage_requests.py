"""A leaving buyer's final usage, asked of every other metering Region (cdk.json `regions`).

The lifecycle runs in the main Region only (Marketplace's events arrive in us-east-1), but a buyer's usage may be in
several Regions, each billed by its own flush. So when the main Region sends a leaving buyer's final usage, it leaves a
request for each other Region in the customers table, which is replicated there; each Region's flush looks for its
requests every few minutes and sends that buyer's usage at once, before Marketplace stops taking it.

Layout (customers table): ``pk = FINAL_USAGE#<region>``, ``sk = <customer key>``, the customer's reference,
``requested_at`` and ``expires_at`` (a day: a request for a Region no longer metering does not stay). One partition
per Region, a few items at a time (only buyers leaving now). Answering removes the item unless it was asked again
since it was read in this Region's replica (a request asked again in the main Region a moment before may still be
removed when the two cross: it only matters after an incomplete answer, and that removes nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.customers.model import CustomerRef, FinalUsageRequest
from functions.storage.dynamodb import condition_failed, storage_error
from functions.storage.times import time_text

_PREFIX = "FINAL_USAGE#"
REQUEST_RETENTION = timedelta(days=1)


def _ref(named: dict[str, Any]) -> CustomerRef:
    return CustomerRef(
        product_code=named["product_code"]["S"],
        license_arn=named.get("license_arn", {}).get("S"),
        customer_identifier=named.get("customer_identifier", {}).get("S"),
    )


class DynamoFinalUsageRequests:
    def __init__(self, client: Any, table_name: str, regions: tuple[str, ...] = ()) -> None:
        self._client = client
        self._table = table_name
        self._regions = regions  # the other metering Regions, for the main Region's ``ask``

    def ask(self, ref: CustomerRef, at: datetime) -> None:
        """Ask each other metering Region to send the customer's usage now (asking again is harmless)."""
        named = {
            "product_code": ref.product_code,
            "license_arn": ref.license_arn,
            "customer_identifier": ref.customer_identifier,
        }
        values = {
            ":at": {"S": time_text(at)},
            ":expires": {"N": str(int((at + REQUEST_RETENTION).timestamp()))},
            ":ref": {"M": {name: {"S": value} for name, value in named.items() if value is not None}},
        }
        for region in self._regions:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": f"{_PREFIX}{region}"}, "sk": {"S": ref.key}},
                    UpdateExpression="SET requested_at = :at, expires_at = :expires, customer_ref = :ref",
                    ExpressionAttributeValues=values,
                )
            except ClientError as error:
                raise storage_error(error) from error

    def pending(self, region: str) -> list[FinalUsageRequest]:
        """What is asked of ``region`` (consistent: a request a moment old is seen)."""
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :region",
                ExpressionAttributeValues={":region": {"S": f"{_PREFIX}{region}"}},
                ConsistentRead=True,
            )
            items = [item for page in pages for item in page["Items"]]
        except ClientError as error:
            raise storage_error(error) from error
        return [FinalUsageRequest(_ref(item["customer_ref"]["M"]), item["requested_at"]["S"]) for item in items]

    def answered(self, region: str, request: FinalUsageRequest) -> None:
        """Remove the request, unless it was asked again since it was read (then the next run answers it again)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"{_PREFIX}{region}"}, "sk": {"S": request.ref.key}},
                ConditionExpression="requested_at = :at",
                ExpressionAttributeValues={":at": {"S": request.requested_at}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
