"""A leaving buyer's final usage, asked of every other metering Region (cdk.json `regions`).

The lifecycle runs in the main Region only (Marketplace's events arrive in us-east-1), but a buyer's usage may be in
several Regions, each billed by its own flush. So when the main Region sends a leaving buyer's final usage, it leaves a
request for each other Region in the customers table, which is replicated there; each Region's flush looks for its
requests every few minutes and sends that buyer's usage at once, before Marketplace stops taking it.

Layout (customers table): ``pk = FINAL_USAGE#<region>``, ``sk = <customer key>``, ``requested_at``. One partition
per Region, a few items at a time (only buyers leaving now); answering removes the item unless it was asked again
meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.customers.model import FinalUsageRequest
from functions.storage.dynamodb import condition_failed, storage_error
from functions.storage.times import time_text

_PREFIX = "FINAL_USAGE#"


class DynamoFinalUsageRequests:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def request(self, customer_key: str, regions: Iterable[str], at: datetime) -> None:
        """Ask each of ``regions`` to send the customer's usage now (asking again is harmless)."""
        for region in regions:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": f"{_PREFIX}{region}"}, "sk": {"S": customer_key}},
                    UpdateExpression="SET requested_at = :at",
                    ExpressionAttributeValues={":at": {"S": time_text(at)}},
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
            return [
                FinalUsageRequest(item["sk"]["S"], item["requested_at"]["S"])
                for page in pages
                for item in page["Items"]
            ]
        except ClientError as error:
            raise storage_error(error) from error

    def answered(self, region: str, request: FinalUsageRequest) -> None:
        """Remove the request, unless it was asked again since it was read (then the next run answers it again)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"{_PREFIX}{region}"}, "sk": {"S": request.customer_key}},
                ConditionExpression="requested_at = :at",
                ExpressionAttributeValues={":at": {"S": request.requested_at}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
