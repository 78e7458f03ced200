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
from functions.storage.errors import ConditionFailed, StorageError

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
        "license_arn": ref.license_arn or customer.legacy_license_arn,
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
    legacy = item["pk"]["S"].startswith("LEGACY#")
    return Customer(
        ref=CustomerRef(
            product_code=item["product_code"]["S"],
            license_arn=None if legacy else text("license_arn"),
            customer_identifier=text("customer_identifier") if legacy else None,
        ),
        customer_aws_account_id=item["customer_aws_account_id"]["S"],
        state=SubscriptionState(item["state"]["S"]),
        state_changed_at=datetime.fromisoformat(item["state_changed_at"]["S"]),
        registered_at=datetime.fromisoformat(registered_at) if registered_at else None,
        agreement_id=text("agreement_id"),
        free_trial=item.get("free_trial", {}).get("BOOL", False),
        contact={k: v["S"] for k, v in item.get("contact", {}).get("M", {}).items()},
        legacy_license_arn=text("license_arn") if legacy else None,
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

    def upsert_registration(self, registration: Customer) -> Customer:
        """Store what ResolveCustomer said about a buyer; a state, its time and the first registration time
        already stored win (registering again never resets a confirmed or ended subscription)."""
        item = _to_item(registration)
        kept = {"state", "state_changed_at", "registered_at"}
        updated = {name: value for name, value in item.items() if name not in {"pk", "sk", "contact"}}
        names = {f"#a{i}": name for i, name in enumerate(updated)}
        values = {f":v{i}": value for i, value in enumerate(updated.values())}
        assignments = [
            f"{alias} = if_not_exists({alias}, :v{i})" if name in kept else f"{alias} = :v{i}"
            for i, (alias, name) in enumerate(names.items())
        ]
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET " + ", ".join(assignments),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            raise StorageError.from_client_error(error) from error
        return _from_item(response["Attributes"])

    def set_contact(self, ref: CustomerRef, contact: dict[str, str]) -> Customer:
        """Replace a registered customer's contact details; ConditionFailed if no such customer exists."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": _SK}},
                UpdateExpression="SET contact = :contact",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":contact": {"M": {k: {"S": v} for k, v in contact.items()}}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailed(
                    f"no customer {ref.key}", code="ConditionalCheckFailed", retryable=False
                ) from error
            raise StorageError.from_client_error(error) from error
        return _from_item(response["Attributes"])
