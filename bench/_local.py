"""What the benchmarks share: loopback stand-ins for AWS, fresh tables, and a DynamoDB capacity meter.

Nothing here reaches AWS: DynamoDB Local and the Marketplace emulator on loopback, dummy credentials.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config

from functions.customers.model import CustomerRef
from functions.usage.model import UsageEvent

WRITE_OPERATIONS = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "BatchExecuteStatement",
}
KB = 1024
# the indexes of our tables and their key attributes (stacks/schema.py: every index projects ALL attributes)
_INDEX_KEYS = {"gsi1": "gsi1pk", "tenant": "tenant_id"}


def licence_usage(
    subscription: dict[str, Any], product_code: str, event_id: str, dimension: str, quantity: Decimal, at: datetime
) -> UsageEvent:
    """An event of an emulator subscription's licence (``admin.subscribe``'s answer), received as it happened."""
    return UsageEvent(
        event_id=event_id,
        product_code=product_code,
        customer_key=CustomerRef(product_code, license_arn=subscription["license_arn"]).key,
        customer_aws_account_id=subscription["account_id"],
        dimension=dimension,
        quantity=quantity,
        timestamp=at,
        received_at=at,
        license_arn=subscription["license_arn"],
    )


def use_loopback_credentials() -> None:
    """Dummy credentials, no tracing, no metric or info-log output from the handlers under test."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
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
    refused: Counter[str] = field(default_factory=Counter)  # PartiQL statements refused (DuplicateItem), per table
    units: Counter[tuple[str, str]] = field(default_factory=Counter)  # ("write" | "read", "table" or "table/index")

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.dynamodb.*", self._ask_for_capacity)
        client.meta.events.register("after-call.dynamodb.*", self._count)
        return client

    def reset(self) -> None:
        self.requests.clear()
        self.units.clear()
        self.refused.clear()

    @staticmethod
    def _ask_for_capacity(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "INDEXES"
        # refused requests (a failed condition) carry no capacity in their answer: count them by what they named
        context["bench_tables"] = (
            [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        )
        if "Statements" in params:  # PartiQL INSERT INTO "table" VALUE {'name': ?, ...}
            context["bench_statements"] = [_inserted(statement) for statement in params["Statements"]]

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        kind = "write" if model.name in WRITE_OPERATIONS else "read"
        if model.name == "BatchExecuteStatement":
            self._count_statements(parsed, context)
            return
        for table in context.get("bench_tables", []):
            self.requests[(model.name, table)] += 1
        for capacity in [consumed] if isinstance(consumed, dict) else consumed:
            table = capacity["TableName"]
            self.units[(kind, table)] += capacity.get("Table", {}).get(
                "CapacityUnits", capacity.get("CapacityUnits", 0)
            )
            for index, used in (capacity.get("GlobalSecondaryIndexes") or {}).items():
                self.units[(kind, f"{table}/{index}")] += used["CapacityUnits"]

    def _count_statements(self, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        """PartiQL INSERTs: DynamoDB bills each as a PutItem of its item (table and each index it lands in), and a
        refused one (DuplicateItem, a failed condition) one unit; DynamoDB Local reports no capacity for them, so they
        are sized here by DynamoDB's rules (``item_size``)."""
        table = context["bench_statements"][0][0]
        self.requests[("BatchExecuteStatement", table)] += 1
        for (named, item), answer in zip(context["bench_statements"], parsed["Responses"], strict=True):
            if "Error" in answer:
                self.refused[named] += 1
                continue
            self.units[("write", named)] += write_units(item)
            for index, key in _INDEX_KEYS.items():
                if key in item:
                    self.units[("write", f"{named}/{index}")] += write_units(item)

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


def _inserted(statement: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The table and the item of a PartiQL INSERT (its attribute names in the statement, their values parameters)."""
    text = statement["Statement"]
    table = text.split('"')[1]
    names = [part.split("'")[1] for part in text.partition("{")[2].split(",")]
    return table, dict(zip(names, statement["Parameters"], strict=True))


def _value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":  # about one byte per two significant digits, and one
        digits = content.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in content.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in content)
    if kind == "B":
        return len(content)
    return sum(_value_size({kind[0]: element}) for element in content)  # SS, NS, BS


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: each attribute's name and value in bytes (the developer guide's "Item sizes
    and formats")."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def write_units(item: dict[str, Any]) -> int:
    return max(1, -(-item_size(item) // KB))


@dataclass
class PartitionMeter:
    """Write units per partition key of one table, and when each landed: what DynamoDB's cap of about 1,000 write
    units a second per partition is about. Units as DynamoDB Local reports them for single-item writes, and by
    DynamoDB's item-size rules (``write_units``) for each item a BatchWriteItem wrote (not those left unprocessed).
    """

    table: str
    writes: list[tuple[float, str, float]] = field(default_factory=list)  # (perf_counter, partition key, units)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.dynamodb.*", self._note_partitions)
        client.meta.events.register("after-call.dynamodb.*", self._count)
        return client

    def _note_partitions(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == self.table and model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
            context["bench_partition"] = (params.get("Key") or params["Item"])["pk"]["S"]
        elif model.name == "BatchWriteItem" and self.table in params["RequestItems"]:
            context["bench_puts"] = [r["PutRequest"]["Item"] for r in params["RequestItems"][self.table]]

    def _count(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        now = time.perf_counter()
        landed: list[tuple[str, float]] = []
        if "bench_partition" in context and "Error" not in parsed:
            consumed = parsed.get("ConsumedCapacity") or {}
            landed.append((context["bench_partition"], consumed.get("CapacityUnits", 0.0)))
        for item in context.get("bench_puts", []):
            left = parsed.get("UnprocessedItems", {}).get(self.table, [])
            if {"PutRequest": {"Item": item}} not in left:
                landed.append((item["pk"]["S"], write_units(item)))
        with self.lock:
            self.writes.extend((now, partition, units) for partition, units in landed)

    def busiest(self, group: Callable[[str], str] = lambda pk: pk, window: float = 1.0) -> tuple[str, float]:
        """The partition (or group of partitions) with the most write units in any ``window`` seconds, per second."""
        start = min(t for t, _, _ in self.writes)
        units: defaultdict[tuple[str, int], float] = defaultdict(float)
        for moment, partition, used in self.writes:
            units[(group(partition), int((moment - start) / window))] += used
        (name, _), most = max(units.items(), key=lambda kv: kv[1])
        return name, most / window
