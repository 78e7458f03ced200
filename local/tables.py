"""Create the app's tables in DynamoDB Local from the definitions the CDK stack uses."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from functions.settings import Settings
from stacks.schema import ALL_TABLES, TableSpec, create_table_request

# Retention for stores that tests and benchmarks build on fixed dates. DynamoDB Local deletes items whose TTL has
# passed by the real clock, as DynamoDB does, so a short retention on a date days ago would let items vanish mid-test.
FIXED_DATE_RETENTION = timedelta(days=3650)


def create_tables(dynamodb: Any, settings: Settings, specs: tuple[TableSpec, ...] = ALL_TABLES) -> None:
    for spec in specs:
        name = getattr(settings, spec.settings_field)
        dynamodb.create_table(**create_table_request(spec, name))
        if spec.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )


def delete_tables(dynamodb: Any, settings: Settings) -> None:
    for spec in ALL_TABLES:
        dynamodb.delete_table(TableName=getattr(settings, spec.settings_field))


def create_fresh_tables(dynamodb: Any, endpoint: str, prefix: str, **settings: Any) -> Settings:
    """Settings naming a new set of tables (``prefix`` and a random suffix), created as the stack defines them."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    tables: dict[str, Any] = {spec.settings_field: f"{name}-{spec.logical_name.lower()}" for spec in ALL_TABLES}
    settings.setdefault("audit_retention_days", FIXED_DATE_RETENTION.days)
    fresh = Settings(dynamodb_endpoint=endpoint, **tables, **settings)
    create_tables(dynamodb, fresh)
    return fresh
