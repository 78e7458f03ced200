"""Create the app's tables in DynamoDB Local from the definitions the CDK stack uses."""

from __future__ import annotations

from typing import Any

from functions.settings import Settings
from functions.storage.schema import ALL_TABLES, create_table_request


def create_tables(dynamodb: Any, settings: Settings) -> None:
    for spec in ALL_TABLES:
        name = getattr(settings, spec.settings_field)
        dynamodb.create_table(**create_table_request(spec, name))
        if spec.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )


def delete_tables(dynamodb: Any, settings: Settings) -> None:
    for spec in ALL_TABLES:
        dynamodb.delete_table(TableName=getattr(settings, spec.settings_field))
