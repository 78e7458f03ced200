"""Table definitions shared by the CDK stack and the tests, so the two cannot drift apart.

Every table has a string partition key ``pk`` and sort key ``sk``, the generic names of a single-table
design, so each capability shapes its own item types without changing the schema.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    logical_name: str
    settings_field: str  # the Settings attribute (and upper-cased env variable) holding the physical name
    partition_key: str = "pk"
    sort_key: str | None = "sk"
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    # replicated to every metering Region (cdk.json `regions`), so each checks buyers locally
    replicated: bool = False


CUSTOMERS = TableSpec(
    logical_name="Customers",
    settings_field="customers_table",
    # gsi1: an account's customers; tenant: the customers the seller linked to one of their tenants (sparse)
    indexes=(Index("gsi1", "gsi1pk", "gsi1sk"), Index("tenant", "tenant_id", "pk")),
    ttl_attribute="expires_at",
    replicated=True,
)
USAGE = TableSpec(
    logical_name="Usage",
    settings_field="usage_table",
    indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),
    ttl_attribute="expires_at",
)
METERING = TableSpec(logical_name="Metering", settings_field="metering_table", ttl_attribute="expires_at")
# A buyer's personal data (the onboarding form's answers), apart from who they are to AWS and their lifecycle: erased
# on request (`cli forget-customer`) while everything billing and audit need stays in the other tables.
CONTACTS = TableSpec(logical_name="Contacts", settings_field="contacts_table")
# Powertools idempotency's own layout: partition key "id", TTL "expiration".
IDEMPOTENCY = TableSpec(
    logical_name="Idempotency",
    settings_field="idempotency_table",
    partition_key="id",
    sort_key=None,
    ttl_attribute="expiration",
)

ALL_TABLES = (CUSTOMERS, CONTACTS, USAGE, METERING, IDEMPOTENCY)
# what a metering stack of another Region keeps for itself (it reads the customers table's replica there)
REGIONAL_TABLES = (USAGE, METERING)


def create_table_request(spec: TableSpec, table_name: str) -> dict[str, object]:
    """The CreateTable request for ``spec`` (on-demand), as used against DynamoDB Local."""
    keys = {spec.partition_key} | ({spec.sort_key} if spec.sort_key else set())
    for index in spec.indexes:
        keys |= {index.partition_key} | ({index.sort_key} if index.sort_key else set())

    def key_schema(partition: str, sort: str | None) -> list[dict[str, str]]:
        schema = [{"AttributeName": partition, "KeyType": "HASH"}]
        if sort:
            schema.append({"AttributeName": sort, "KeyType": "RANGE"})
        return schema

    request: dict[str, object] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(keys)],
        "KeySchema": key_schema(spec.partition_key, spec.sort_key),
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    return request
