"""What the benchmarks share: loopback stand-ins for AWS, fresh tables, and a DynamoDB capacity meter.

Nothing here reaches AWS: DynamoDB Local and the Marketplace emulator on loopback, dummy credentials.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def use_loopback_credentials() -> None:
    """Dummy credentials, no tracing, no metric or info-log output from the handlers under test."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("AWS_PROFILE", None)


def dynamodb_client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=Config(max_pool_connections=32)
    )


@dataclass
class CapacityMeter:
    """Requests and consumed capacity of every call a client makes, per table (and index), via botocore's events.

    It asks each request for ``ReturnConsumedCapacity=INDEXES`` and reads the answer: nothing else is changed.
    """

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, table)
    units: Counter[tuple[str, str]] = field(default_factory=Counter)  # ("write" | "read", "table" or "table/index")

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.dynamodb.*", self._ask_for_capacity)
        client.meta.events.register("after-call.dynamodb.*", self._count)
        return client

    def reset(self) -> None:
        self.requests.clear()
        self.units.clear()

    @staticmethod
    def _ask_for_capacity(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "INDEXES"
        # refused requests (a failed condition) carry no capacity in their answer: count them by what they named
        context["bench_tables"] = (
            [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        )

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        kind = "write" if model.name in WRITE_OPERATIONS else "read"
        for table in context.get("bench_tables", []):
            self.requests[(model.name, table)] += 1
        for capacity in [consumed] if isinstance(consumed, dict) else consumed:
            table = capacity["TableName"]
            self.units[(kind, table)] += capacity.get("Table", {}).get(
                "CapacityUnits", capacity.get("CapacityUnits", 0)
            )
            for index, used in (capacity.get("GlobalSecondaryIndexes") or {}).items():
                self.units[(kind, f"{table}/{index}")] += used["CapacityUnits"]

    def requests_of(self, table: str, kind: str) -> int:
        writes = {(o, t): n for (o, t), n in self.requests.items() if t == table and o in WRITE_OPERATIONS}
        return (
            sum(writes.values())
            if kind == "write"
            else sum(n for (o, t), n in self.requests.items() if t == table and o not in WRITE_OPERATIONS)
        )

    def units_of(self, table: str, kind: str) -> float:
        """``kind`` ("write" or "read") capacity units of ``table`` including its indexes."""
        return sum(u for (k, name), u in self.units.items() if k == kind and name.split("/")[0] == table)
