"""Customer storage behind a small interface; one DynamoDB implementation.

Layout (customers table): ``pk = CustomerRef.key``, ``sk = "CUSTOMER"``; ``gsi1pk = ACCOUNT#<account id>``,
``gsi1sk = <product code>#<pk>`` lists an account's licences (one account may hold several).

A customer's ``state`` is derived on read from the lifecycle items of the same table
(``functions.customers.lifecycle_store``) when there are any; the stored ``state`` is only the registration's own
(pending, or what a test put).

A free trial is kept as ``free_trial_claimed`` (what the buyer's browser said) apart from ``free_trial_confirmed``
(what the agreement's terms said at registration, read at ``free_trial_known_at``). A legacy subscribe-success's word is
kept on the buyer's lifecycle item instead; a customer reads as whichever word of Marketplace is newer. Items written
before claims were kept apart have a single ``free_trial``, which was the browser's word: they read as a claim.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.customers.lifecycle_store import (
    DynamoLifecycleStore,
    is_lifecycle_item,
    is_notice_item,
    notice_of_item,
    record_of_item,
)
from functions.customers.model import (
    Customer,
    CustomerRef,
    SingleUseExpired,
    SingleUseSpent,
    SubscriptionState,
    TenantConflict,
)
from functions.customers.notices import AgreementNotice, latest
from functions.customers.subjects import BuyerLifecycle, SubjectRecord, buyer_lifecycle, buyer_lifecycles
from functions.storage.dynamodb import (
    batch_get,
    condition_failed,
    raise_unless_first_condition_failed,
    storage_error,
)
from functions.storage.errors import ConditionFailed
from functions.storage.times import parse_time, time_text

_SK = "CUSTOMER"
_CONTACT_SK = "CONTACT"
FREE_TRIAL_CONFIRMED = "free_trial_confirmed"
FREE_TRIAL_CLAIMED = "free_trial_claimed"
FREE_TRIAL_KNOWN_AT = "free_trial_known_at"
# before claims were kept apart, the browser's offer type was stored here, unconfirmed
UNCONFIRMED_FREE_TRIAL = "free_trial"
# the seller's tenant id, and the sparse index that finds a tenant's customers by it
TENANT_ID = "tenant_id"
TENANT_INDEX = "tenant"
# single-use values on the customer's item: the sign-up value that may be exchanged, then the tenant link it allows
SIGNUP_NONCE = "signup_nonce"
TENANT_LINK_NONCE = "tenant_link_nonce"
TENANT_LINK_UNTIL = "tenant_link_until"
# what the seller's identical retry (its answer lost) is answered with again: the sign-up value exchanged (its nonce)
# and the tenant link used (its nonce); neither allows anything new
SIGNUP_EXCHANGED = "signup_exchanged"
# the Idempotency-Key the seller's back end sent with the first exchange: only a repeat carrying it is answered again
SIGNUP_EXCHANGE_KEY = "signup_exchange_key"
TENANT_LINKED = "tenant_linked"
COMPLETION_NONCE = "completion_nonce"
# what an erasure removes from the customer's item: personal data, and every single-use value that could write it back
_ERASED_WITH_THE_CONTACT = (
    "contact",
    TENANT_ID,
    COMPLETION_NONCE,
    SIGNUP_NONCE,
    SIGNUP_EXCHANGED,
    SIGNUP_EXCHANGE_KEY,
    TENANT_LINK_NONCE,
    TENANT_LINK_UNTIL,
    TENANT_LINKED,
)
# set by an erasure, removed by the buyer's next registration (a new token): until then no sign-up value is started, so
# a registration answer replayed from the idempotency record (a reload, the Back button) writes nothing back
ERASED = "contact_erased"


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
        FREE_TRIAL_CONFIRMED: {"BOOL": customer.free_trial},
        FREE_TRIAL_CLAIMED: {"BOOL": customer.free_trial_claimed},
    }
    optional = {
        "license_arn": ref.license_arn or customer.legacy_license_arn,
        "customer_identifier": ref.customer_identifier,
        "agreement_id": customer.agreement_id,
        "registered_at": customer.registered_at.isoformat() if customer.registered_at else None,
        TENANT_ID: customer.tenant_id,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value is not None})
    if customer.entitlements:
        item["entitlements"] = {"S": json.dumps(list(customer.entitlements), sort_keys=True)}
    moments = {
        FREE_TRIAL_KNOWN_AT: customer.free_trial_known_at,
        "final_usage_cutoff": customer.final_usage_cutoff,
        "final_usage_sent": customer.final_usage_sent,
        "announced_activation": customer.announced_activation,
        "announced_end": customer.announced_end,
    }
    item.update({name: {"S": time_text(value)} for name, value in moments.items() if value is not None})
    if customer.agreement_id and customer.agreement_linked_at:
        item[_linked(customer.agreement_id)] = {"S": time_text(customer.agreement_linked_at)}
    return item


def _linked(agreement_id: str) -> str:
    """When a registration first linked the agreement to the buyer: one attribute per agreement they registered with,
    each kept from its first registration (a buyer registers again with a renewal's token, or back on their licence)."""
    return f"linked#{agreement_id}"


def _from_item(item: dict[str, Any]) -> Customer:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def moment(name: str) -> datetime | None:
        value = text(name)
        return parse_time(value) if value else None

    def flag(name: str) -> bool:
        return bool(item.get(name, {}).get("BOOL", False))

    registered_at = text("registered_at")
    agreement_id = text("agreement_id")
    legacy = item["pk"]["S"].startswith("LEGACY#")
    if FREE_TRIAL_CLAIMED in item:
        free_trial, claimed = flag(FREE_TRIAL_CONFIRMED), flag(FREE_TRIAL_CLAIMED)
    else:  # written before claims were kept apart: never confirmed
        free_trial, claimed = False, flag(UNCONFIRMED_FREE_TRIAL)
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
        agreement_id=agreement_id,
        agreement_linked_at=moment(_linked(agreement_id)) if agreement_id else None,
        free_trial=free_trial,
        free_trial_known_at=moment(FREE_TRIAL_KNOWN_AT) if FREE_TRIAL_CLAIMED in item else None,
        free_trial_claimed=claimed,
        entitlements=tuple(json.loads(item["entitlements"]["S"])) if "entitlements" in item else (),
        legacy_license_arn=text("license_arn") if legacy else None,
        final_usage_cutoff=moment("final_usage_cutoff"),
        final_usage_sent=moment("final_usage_sent"),
        announced_activation=moment("announced_activation"),
        announced_end=moment("announced_end"),
        tenant_id=text(TENANT_ID),
    )


def with_lifecycle(customer: Customer, lifecycle: BuyerLifecycle) -> Customer:
    """``customer`` in the state its lifecycle events say (as stored if none has arrived yet), with the free trial
    of Marketplace's newest word: the registration's reading of the agreement's terms or a legacy subscribe-success."""
    word = lifecycle.free_trial
    known_at = customer.free_trial_known_at
    if word is not None and (known_at is None or word.at > known_at):
        customer = replace(customer, free_trial=word.free_trial, free_trial_known_at=word.at)
    times = lifecycle.times
    if times.started is not None or times.started_by is not None:
        customer = replace(
            customer,
            subscribed_at=times.started,
            subscribed_after=times.started_after,
            subscribed_by=times.started_by,
            earlier_terms=times.earlier_terms,
        )
    if times.changed_at is None:
        return customer
    return replace(customer, state=times.state, state_changed_at=times.changed_at)


class DynamoCustomerRepository:
    def __init__(self, client: Any, table_name: str, contacts_table: str | None = None) -> None:
        self._client = client
        self._table = table_name
        self._contacts_table = contacts_table  # only registration and the operator's erasure need it
        self._lifecycle = DynamoLifecycleStore(client, table_name)

    def _contacts(self) -> str:
        if self._contacts_table is None:
            raise RuntimeError("this repository was built without the contacts table (pass contacts_table)")
        return self._contacts_table

    def lifecycle(self, customer: Customer) -> BuyerLifecycle:
        return buyer_lifecycle(customer, self._lifecycle.read)

    def _current(self, customer: Customer) -> Customer:
        return with_lifecycle(customer, self.lifecycle(customer))

    def get(self, ref: CustomerRef) -> Customer | None:
        return self.get_many([ref])[ref]

    def get_many(self, refs: Collection[CustomerRef]) -> dict[CustomerRef, Customer | None]:
        """Every customer of ``refs`` (None if unknown): a read of all their items, then one of all their lifecycles
        per round, however many they are (up to 100 items per request)."""
        keys = [{"pk": {"S": key}, "sk": {"S": _SK}} for key in dict.fromkeys(ref.key for ref in refs)]
        stored = {item["pk"]["S"]: _from_item(item) for item in batch_get(self._client, self._table, keys)}
        customers = list(stored.values())
        current = {
            c.ref.key: with_lifecycle(c, lifecycle)
            for c, lifecycle in zip(customers, buyer_lifecycles(customers, self._lifecycle.read), strict=True)
        }
        return {ref: current.get(ref.key) for ref in refs}

    def put(self, customer: Customer) -> None:
        try:
            self._client.put_item(TableName=self._table, Item=_to_item(customer))
        except ClientError as error:
            raise storage_error(error) from error

    def _scan(self) -> list[dict[str, Any]]:
        paginator = self._client.get_paginator("scan")
        try:
            return [item for page in paginator.paginate(TableName=self._table) for item in page["Items"]]
        except ClientError as error:
            raise storage_error(error) from error

    def list_all(self) -> Iterator[Customer]:
        for customer, _ in self._customers_in(self._scan()):
            yield customer

    def _customers_in(self, items: list[dict[str, Any]]) -> Iterator[tuple[Customer, BuyerLifecycle]]:
        lifecycle = {item["pk"]["S"]: record_of_item(item) for item in items if is_lifecycle_item(item)}

        def scanned(subjects: Sequence[str]) -> dict[str, SubjectRecord]:
            return {s: lifecycle[s] for s in subjects if s in lifecycle}

        for item in items:
            if item["sk"]["S"] == _SK:
                customer = _from_item(item)
                found = buyer_lifecycle(customer, scanned)
                yield with_lifecycle(customer, found), found

    def with_notices(self) -> list[tuple[Customer, list[AgreementNotice]]]:
        """Every customer with the newest notices of every agreement linked to them (newest first), in one scan."""
        items = self._scan()
        notices: dict[str, list[AgreementNotice]] = {}
        for item in items:
            if is_notice_item(item):
                notice = notice_of_item(item)
                notices.setdefault(notice.agreement_id, []).append(notice)
        return [
            (customer, latest(n for agreement in found.agreements for n in notices.get(agreement, ())))
            for customer, found in self._customers_in(items)
        ]

    def notices(self) -> list[AgreementNotice]:
        """Every agreement's notices, registered buyers' or not (newest first)."""
        return latest(notice_of_item(item) for item in self._scan() if is_notice_item(item))

    def of_account(self, account_id: str, product_code: str | None = None) -> list[Customer]:
        """The account's customers (of ``product_code``, or of every product), as stored: an index read, so a
        registration a moment old may be missing."""
        values = {":account": {"S": f"ACCOUNT#{account_id}"}}
        condition = "gsi1pk = :account"
        if product_code is not None:
            condition += " AND begins_with(gsi1sk, :product)"
            values[":product"] = {"S": f"{product_code}#"}
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            return [_from_item(item) for page in pages for item in page["Items"]]
        except ClientError as error:
            raise storage_error(error) from error

    def of_tenant(self, tenant_id: str) -> list[Customer]:
        """The customers the seller linked to ``tenant_id`` (an index read: a link a moment old may be missing)."""
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=TENANT_INDEX,
                KeyConditionExpression="tenant_id = :tenant",
                ExpressionAttributeValues={":tenant": {"S": tenant_id}},
            )
            found = [_from_item(item) for page in pages for item in page["Items"]]
        except ClientError as error:
            raise storage_error(error) from error
        # read again, consistently (with their lifecycle): one moved to another tenant a moment ago is not listed
        current = self.get_many([c.ref for c in found]).values()
        return [c for c in current if c is not None and c.tenant_id == tenant_id]

    def set_tenant(self, ref: CustomerRef, tenant_id: str, *, replace: bool = False) -> bool:
        """Link the customer to the seller's ``tenant_id``: True if it changed, False if it was linked to it
        already. TenantConflict if it is linked to another (unless ``replace``); ConditionFailed if no such
        customer."""
        condition = "attribute_exists(pk)"
        if not replace:
            condition += " AND (attribute_not_exists(tenant_id) OR tenant_id = :tenant)"
        try:
            old = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": _SK}},
                UpdateExpression="SET tenant_id = :tenant",
                ConditionExpression=condition,
                ExpressionAttributeValues={":tenant": {"S": tenant_id}},
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
            current = error.response.get("Item", {}).get(TENANT_ID, {}).get("S")
            if current is None:
                raise ConditionFailed(
                    f"no customer {ref.key}", code="ConditionalCheckFailedException", retryable=False
                ) from None
            raise TenantConflict(current) from None
        previous: str | None = old.get("Attributes", {}).get(TENANT_ID, {}).get("S")
        return previous != tenant_id

    def start_signup(self, ref: CustomerRef, nonce: str) -> None:
        """The sign-up value ``nonce`` names is the customer's one exchangeable value (a later one replaces it).
        SingleUseSpent if the customer's personal data were erased since they registered; ConditionFailed if no such
        customer."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": _SK}},
                UpdateExpression=f"SET {SIGNUP_NONCE} = :nonce REMOVE {SIGNUP_EXCHANGED}, {SIGNUP_EXCHANGE_KEY}",
                ConditionExpression=f"attribute_exists(pk) AND attribute_not_exists({ERASED})",
                ExpressionAttributeValues={":nonce": {"S": nonce}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
            if "Item" not in error.response:
                raise ConditionFailed(
                    f"no customer {ref.key}", code="ConditionalCheckFailedException", retryable=False
                ) from None
            raise SingleUseSpent("the customer's personal data were erased since this registration") from None

    def exchange_signup(
        self, ref: CustomerRef, nonce: str, link_nonce: str, link_until: datetime, idempotency_key: str | None = None
    ) -> tuple[Customer, str]:
        """Spend the sign-up value ``nonce`` names, once, allowing one tenant link (``link_nonce``) until
        ``link_until``: the customer as stored, and the tenant link's nonce. The same value exchanged again with the
        first exchange's ``idempotency_key`` (the seller's retry of a lost answer) answers the same nonce and allows
        nothing new; without it, or with another key, SingleUseSpent (a leaked URL opened again). SingleUseSpent also
        if that value was replaced by a later one or erased; ConditionFailed if no such customer."""
        values = {":nonce": {"S": nonce}, ":link": {"S": link_nonce}, ":until": {"S": time_text(link_until)}}
        keep_key = f"{SIGNUP_EXCHANGE_KEY} = :key" if idempotency_key else ""
        if idempotency_key:
            values[":key"] = {"S": idempotency_key}
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": _SK}},
                UpdateExpression=(
                    f"SET {TENANT_LINK_NONCE} = :link, {TENANT_LINK_UNTIL} = :until, {SIGNUP_EXCHANGED} = :nonce"
                    + (f", {keep_key}" if keep_key else "")
                    + f" REMOVE {SIGNUP_NONCE}, {TENANT_LINKED}"
                    + ("" if keep_key else f", {SIGNUP_EXCHANGE_KEY}")
                ),
                ConditionExpression=f"{SIGNUP_NONCE} = :nonce",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
            item = error.response.get("Item")
            if item is None:
                raise ConditionFailed(
                    f"no customer {ref.key}", code="ConditionalCheckFailedException", retryable=False
                ) from None
            allowed = item.get(TENANT_LINK_NONCE, {}).get("S")
            same_key = idempotency_key is not None and item.get(SIGNUP_EXCHANGE_KEY, {}).get("S") == idempotency_key
            if item.get(SIGNUP_EXCHANGED, {}).get("S") == nonce and allowed and same_key:
                return self._current(_from_item(item)), allowed
            raise SingleUseSpent("exchanged already, replaced by a later sign-up value, or erased") from None
        return self._current(_from_item(response["Attributes"])), link_nonce

    def link_tenant(self, ref: CustomerRef, tenant_id: str, nonce: str, now: datetime) -> bool:
        """The seller's tenant link: link the customer to ``tenant_id`` with the single use the sign-up exchange
        allowed (``nonce``, before its time is up). True if the link changed; False for the same link again (the
        seller's retry of a lost answer: the customer is linked to that tenant by it). SingleUseSpent if that use is
        spent or not this customer's, SingleUseExpired if its time is up, TenantConflict if the customer is linked to
        another tenant, ConditionFailed if there is no such customer."""
        try:
            old = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": _SK}},
                UpdateExpression=f"SET {TENANT_ID} = :tenant, {TENANT_LINKED} = :nonce",
                ConditionExpression=(
                    f"{TENANT_LINK_NONCE} = :nonce AND {TENANT_LINK_UNTIL} > :now"
                    f" AND attribute_not_exists({TENANT_LINKED})"
                    f" AND (attribute_not_exists({TENANT_ID}) OR {TENANT_ID} = :tenant)"
                ),
                ExpressionAttributeValues={
                    ":tenant": {"S": tenant_id},
                    ":nonce": {"S": nonce},
                    ":now": {"S": time_text(now)},
                },
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
            item = error.response.get("Item")
            if item is None:
                raise ConditionFailed(
                    f"no customer {ref.key}", code="ConditionalCheckFailedException", retryable=False
                ) from None
            if item.get(TENANT_LINKED, {}).get("S") == nonce and item.get(TENANT_ID, {}).get("S") == tenant_id:
                return False  # this very link, again: done already
            if item.get(TENANT_LINK_NONCE, {}).get("S") != nonce or TENANT_LINKED in item:
                raise SingleUseSpent("the tenant link was used already, or is not this customer's") from None
            if item.get(TENANT_LINK_UNTIL, {}).get("S", "") <= time_text(now):
                raise SingleUseExpired("the tenant link's time is up") from None
            raise TenantConflict(item[TENANT_ID]["S"]) from None
        previous: str | None = old.get("Attributes", {}).get(TENANT_ID, {}).get("S")
        return previous != tenant_id

    def confirm_free_trial(self, ref: CustomerRef, free_trial: bool, at: datetime) -> bool:
        """What the agreement's terms said about the free trial, read at ``at``: kept unless Marketplace's word
        stored is newer. False if unchanged."""
        return self._conditional_set(
            ref,
            f"{FREE_TRIAL_CONFIRMED} = :trial, {FREE_TRIAL_KNOWN_AT} = :at",
            f"attribute_exists(pk) AND (attribute_not_exists({FREE_TRIAL_KNOWN_AT}) OR {FREE_TRIAL_KNOWN_AT} < :at)",
            {":trial": {"BOOL": free_trial}, ":at": {"S": time_text(at)}},
        )

    def set_final_usage_cutoff(self, ref: CustomerRef, cutoff: datetime, own_from: datetime) -> bool:
        """Record when the leaving buyer's usage stops being taken. Only ever moved earlier for the same ending; a
        cutoff stored before ``own_from``, the earliest one of this ending can be, belonged to an earlier one and is
        replaced. False if unchanged."""
        return self._conditional_set(
            ref,
            "final_usage_cutoff = :cutoff",
            "attribute_exists(pk) AND (attribute_not_exists(final_usage_cutoff) OR final_usage_cutoff < :since"
            " OR final_usage_cutoff > :cutoff)",
            {":cutoff": {"S": time_text(cutoff)}, ":since": {"S": time_text(own_from)}},
        )

    def mark_final_usage_sent(self, ref: CustomerRef, cutoff: datetime) -> bool:
        """Remember that the leaving buyer's final usage for ``cutoff`` is being sent (before it is)."""
        return self._conditional_set(
            ref, "final_usage_sent = :cutoff", "attribute_exists(pk)", {":cutoff": {"S": time_text(cutoff)}}
        )

    def mark_announced(self, ref: CustomerRef, attribute: str, at: datetime) -> bool:
        """Remember that the lifecycle time ``at`` was announced (``announced_activation`` / ``announced_end``)."""
        if attribute not in {"announced_activation", "announced_end"}:
            raise ValueError(f"not an announcement attribute: {attribute}")
        return self._conditional_set(
            ref,
            f"{attribute} = :at",
            f"attribute_exists(pk) AND (attribute_not_exists({attribute}) OR {attribute} < :at)",
            {":at": {"S": time_text(at)}},
        )

    def set_entitlements(self, ref: CustomerRef, entitlements: tuple[dict[str, object], ...]) -> bool:
        return self._conditional_set(
            ref,
            "entitlements = :e",
            "attribute_exists(pk)",
            {":e": {"S": json.dumps(list(entitlements), sort_keys=True)}},
        )

    def _conditional_set(self, ref: CustomerRef, assignment: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": _SK}},
                UpdateExpression=f"SET {assignment}",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise storage_error(error) from error
        return True

    def upsert_registration(self, registration: Customer, completion_nonce: str) -> Customer:
        """Store what ResolveCustomer said about a buyer; a state, its time and the first registration time
        already stored win (registering again never resets a confirmed or ended subscription). The onboarding
        form of this registration is the one ``completion_nonce`` names (see ``set_contact``).

        The free trial the registration read from the agreement's terms (``free_trial_known_at`` set) is the truth
        about the agreement now stored (a renewal's paid terms end a trial); where they could not be read, what was
        stored stays."""
        item = {**_to_item(registration), "completion_nonce": {"S": completion_nonce}}
        kept = {"state", "state_changed_at", "registered_at"}
        if registration.agreement_id:
            kept.add(_linked(registration.agreement_id))
        if registration.free_trial_known_at is None:
            kept.add(FREE_TRIAL_CONFIRMED)
        updated = {name: value for name, value in item.items() if name not in {"pk", "sk", "contact"}}
        names = {f"#a{i}": name for i, name in enumerate(updated)}
        values = {f":v{i}": value for i, value in enumerate(updated.values())}
        assignments = [
            f"{alias} = if_not_exists({alias}, :v{i})" if name in kept else f"{alias} = :v{i}"
            for i, (alias, name) in enumerate(names.items())
        ]
        # the attribute of items written before claims were kept apart (an unconfirmed claim) goes; an erasure's mark
        # stays (only a token resolved afresh clears it: clear_erasure)
        names["#unconfirmed"] = UNCONFIRMED_FREE_TRIAL
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET " + ", ".join(assignments) + " REMOVE #unconfirmed",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            raise storage_error(error) from error
        # lifecycle events that arrived before the buyer registered apply now
        return self._current(_from_item(response["Attributes"]))

    def clear_erasure(self, ref: CustomerRef) -> None:
        """The buyer registered again with a token resolved afresh since an erasure (a new "Set up your account"):
        their sign-up value may be started again. Nothing if there is no such customer or mark."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": _SK}},
                UpdateExpression=f"REMOVE {ERASED}",
                ConditionExpression=f"attribute_exists({ERASED})",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error

    def set_contact(self, ref: CustomerRef, contact: dict[str, str], completion_nonce: str) -> Customer | None:
        """Keep a registered customer's contact details from the form ``completion_nonce`` names, once, in the
        contacts table (personal data apart): None if that form was used already or a later registration replaced
        it; ConditionFailed if no such customer exists. Spending the form and storing its answers are one
        transaction: a run that dies between them leaves neither."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"pk": {"S": ref.key}, "sk": {"S": _SK}},
                            "UpdateExpression": "REMOVE completion_nonce",
                            "ConditionExpression": "attribute_exists(pk) AND completion_nonce = :nonce",
                            "ExpressionAttributeValues": {":nonce": {"S": completion_nonce}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._contacts(),
                            "Item": {
                                "pk": {"S": ref.key},
                                "sk": {"S": _CONTACT_SK},
                                "contact": {"M": {k: {"S": v} for k, v in contact.items()}},
                            },
                        }
                    },
                ]
            )
        except ClientError as error:
            raise_unless_first_condition_failed(error)
            if self.get(ref) is None:
                raise ConditionFailed(
                    f"no customer {ref.key}", code="ConditionalCheckFailed", retryable=False
                ) from error
            return None
        return self.get(ref)

    def contact(self, ref: CustomerRef) -> dict[str, str]:
        """The customer's contact details ({} if none, or erased); those an earlier version kept on the customer's
        own item are found there."""
        try:
            stored = self._client.get_item(
                TableName=self._contacts(), Key={"pk": {"S": ref.key}, "sk": {"S": _CONTACT_SK}}, ConsistentRead=True
            ).get("Item") or self._client.get_item(
                TableName=self._table, Key={"pk": {"S": ref.key}, "sk": {"S": _SK}}, ConsistentRead=True
            ).get("Item", {})
        except ClientError as error:
            raise storage_error(error) from error
        return {k: v["S"] for k, v in stored.get("contact", {}).get("M", {}).items()}

    def forget_contact(self, ref: CustomerRef) -> list[str]:
        """Erase the customer's personal data: the contacts item (and what an earlier version kept on the customer's
        own item) and the seller's tenant id (it may be an e-mail address). The names of the fields erased, [] if there
        was nothing to erase. Who the customer is to AWS, their lifecycle and their metered usage stay: billing and
        audit need them.

        The customer's single-use values go first, in the same write: a form, a sign-up exchange or a tenant link
        still in flight then finds its value spent, and its conditional write stores nothing after the erasure."""
        key = {"pk": {"S": ref.key}}
        try:
            spent = self._client.update_item(
                TableName=self._table,
                Key={**key, "sk": {"S": _SK}},
                UpdateExpression=f"REMOVE {', '.join(_ERASED_WITH_THE_CONTACT)} SET {ERASED} = :erased",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":erased": {"BOOL": True}},
                ReturnValues="UPDATED_OLD",
            ).get("Attributes", {})
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
            spent = {}  # no such customer: their contacts item, if any, still goes
        try:
            erased = self._client.delete_item(
                TableName=self._contacts(), Key={**key, "sk": {"S": _CONTACT_SK}}, ReturnValues="ALL_OLD"
            ).get("Attributes", {})
        except ClientError as error:
            raise storage_error(error) from error
        fields = {*erased.get("contact", {}).get("M", {}), *spent.get("contact", {}).get("M", {})}
        return sorted(fields) + ([TENANT_ID] if TENANT_ID in spent else [])
