"""The usage table as the tests read it: the events where the flush reads them (``U#<hour>#<shard>`` items), not the
identities each is kept under too (``ID#...``: ``functions/usage/store.py``)."""

from __future__ import annotations

from typing import Any


def event_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("U#")]


def event_id(item: dict[str, Any]) -> str:
    """The id of the event an item holds (its sort key is ``<event id>|<customer key>``)."""
    return str(item["sk"]["S"]).partition("|")[0]
