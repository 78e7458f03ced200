"""The tables the stack defines exist in DynamoDB Local with the same keys, indexes and TTL."""

from typing import Any

from functions.settings import Settings
from stacks.schema import ALL_TABLES


def test_every_table_of_the_stack_is_created_with_its_keys_and_ttl(dynamodb: Any, settings: Settings) -> None:
    for spec in ALL_TABLES:
        # Given the tables the settings fixture created from the shared definitions
        name = getattr(settings, spec.settings_field)
        # When DynamoDB Local describes them
        table = dynamodb.describe_table(TableName=name)["Table"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        # Then keys, indexes and TTL match the definition
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        assert keys["HASH"] == spec.partition_key
        assert keys.get("RANGE") == spec.sort_key
        assert sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])) == sorted(
            i.name for i in spec.indexes
        )
        assert ttl.get("AttributeName") == spec.ttl_attribute


def test_an_item_round_trips_through_dynamodb_local(dynamodb: Any, settings: Settings) -> None:
    dynamodb.put_item(TableName=settings.usage_table, Item={"pk": {"S": "a"}, "sk": {"S": "b"}, "n": {"N": "1.5"}})
    item = dynamodb.get_item(TableName=settings.usage_table, Key={"pk": {"S": "a"}, "sk": {"S": "b"}})["Item"]
    assert item["n"] == {"N": "1.5"}
