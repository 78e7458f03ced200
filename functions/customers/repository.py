"""Customer storage behind a small interface; one DynamoDB implementation.

Layout (customers table): ``pk = CustomerRef.key``, ``sk = "CUSTOMER"``; ``gsi1pk = ACCOUNT#<account id>``,
``gsi1sk = <product code>#<pk>`` lists an account's licences (one account may hold several).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.storage.errors import StorageError

_SK = "CUSTOMER"


class CustomerRepository(Protocol):
    def get(self, ref: CustomerRef) -> Customer | None: ...

    def put(self, customer: Customer) -> None: ...

    def list_all(self) -> Iterator[Customer]: ...


def _to_item(customer: Customer) -> dict[str, Any]:
    ref = customer.ref
    item: dict[str, Any] = {
        "pk": {"S": ref.key},
        "sk": {"S": _SK},
        "gsi1pk": {"S": f"ACCOUNT#{customer.customer_aws_account_id}"},
        "gsi1sk": {"S": f"{ref.product_code}#{ref.key}"},
        "product_code": {"S": ref.product_code},
        "customer_aws_account_id": {"S": customer.customer_aws_account_id},
        "state": {"S": customer.state.value},
        "state_changed_at": {"S": customer.state_changed_at.isoformat()},
        "free_trial": {"BOOL": customer.free_trial},
    }
    optional = {
        "license_arn": ref.license_arn,
        "customer_identifier": ref.customer_identifier,
        "agreement_id": customer.agreement_id,
        "registered_at": customer.registered_at.isoformat() if customer.registered_at else None,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value is not None})
    if customer.contact:
        item["contact"] = {"M": {k: {"S": v} for k, v in customer.contact.items()}}
    return item


def _from_item(item: dict[str, Any]) -> Customer:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    registered_at = text("registered_at")
    return Customer(
        ref=CustomerRef(
            product_code=item["product_code"]["S"],
            license_arn=text("license_arn"),
            customer_identifier=text("customer_identifier"),
        ),
        customer_aws_account_id=item["customer_aws_account_id"]["S"],
        state=SubscriptionState(item["state"]["S"]),
        state_changed_at=datetime.fromisoformat(item["state_changed_at"]["S"]),
        registered_at=datetime.fromisoformat(registered_at) if registered_at else None,
        agreement_id=text("agreement_id"),
        free_trial=item.get("free_trial", {}).get("BOOL", False),
        contact={k: v["S"] for k, v in item.get("contact", {}).get("M", {}).items()},
    )


class DynamoCustomerRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, ref: CustomerRef) -> Customer | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": ref.key}, "sk": {"S": _SK}}, ConsistentRead=True
            )
        except ClientError as error:
            raise StorageError.from_client_error(error) from error
        item = response.get("Item")
        return _from_item(item) if item else None

    def put(self, customer: Customer) -> None:
        try:
            self._client.put_item(TableName=self._table, Item=_to_item(customer))
        except ClientError as error:
            raise StorageError.from_client_error(error) from error

    def list_all(self) -> Iterator[Customer]:
        paginator = self._client.get_paginator("scan")
        try:
            for page in paginator.paginate(
                TableName=self._table,
                FilterExpression="sk = :sk",
                ExpressionAttributeValues={":sk": {"S": _SK}},
            ):
                yield from (_from_item(item) for item in page["Items"])
        except ClientError as error:
            raise StorageError.from_client_error(error) from error
