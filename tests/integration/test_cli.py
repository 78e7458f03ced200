"""The operator CLI against DynamoDB Local and the Marketplace emulator: the very commands an operator types."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.customers.model import CustomerRef
from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Dimension, Product, Settings
from local.marketplace.testing import EmulatorHandle, usage_record
from tests.operator_world import OperatorWorld

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PRODUCT = Product(
    code="cli-product",
    name="CLI",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)
ACCOUNTS = ("100000000001", "100000000002")


class Ops(OperatorWorld):
    def json(self, *argv: str) -> Any:
        status, out, err = self.cli(*argv, "--json")
        assert status == 0, err
        return json.loads(out)

    def billed(self) -> list[tuple[str, str, str, str]]:
        return sorted(
            (r["customer_aws_account_id"], r["dimension"], r["hour"][:13], r["quantity"])
            for r in self.marketplace.admin.ledger(product_code=PRODUCT.code)
        )


@pytest.fixture
def ops(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Ops:
    test_settings = replace(settings, products=(PRODUCT,), usage_shards=2, marketplace_endpoint=marketplace.url)
    return Ops.with_buyers(test_settings, marketplace, dynamodb, PRODUCT, ACCOUNTS, START)


def test_customers_lists_state_licence_product_and_registration(ops: Ops) -> None:
    rows = ops.json("customers")
    assert [(r["product"], r["account"], r["customer"], r["state"]) for r in rows] == [
        (PRODUCT.code, account, sub["license_arn"], "active")
        for account, sub in zip(ACCOUNTS, ops.subscriptions, strict=True)
    ]
    assert rows[0]["registered_at"] == (START - timedelta(days=1)).isoformat()
    # and the table for people has a heading and one aligned line per customer
    status, out, _ = ops.cli("customers")
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split()[:4] == ["PRODUCT", "ACCOUNT", "CUSTOMER", "STATE"]
    assert len(lines) == 3
    assert lines[1].index(ACCOUNTS[0]) == lines[0].index("ACCOUNT")


def test_unknown_names_exit_2_naming_them(ops: Ops) -> None:
    for argv, named in [
        (["customers", "--product", "nope"], "unknown product: 'nope'"),
        (["usage", "--customer", "999999999999"], "unknown customer: '999999999999'"),
        (["failed", "--dimension", "nope"], "unknown dimension: 'nope'"),
        (["usage", "--since", "yesterday"], "--since: 'yesterday'"),
    ]:
        status, out, err = ops.cli(*argv)
        assert (status, out) == (2, ""), argv
        assert named in err


def test_usage_shows_open_hours_then_metering_results_with_filters(ops: Ops) -> None:
    # Given usage of two customers in two hours
    ops.use(0, "api_calls", 5, "a1")
    ops.use(0, "api_calls", 2, "a2")
    ops.use(1, "storage_gb", "1.5", "b1")
    ops.move_to(START + timedelta(hours=1, minutes=10))
    ops.use(0, "api_calls", 4, "a3")
    # Then the hours not yet sealed show as the flush would total them
    rows = ops.json("usage", "--since", "2h")
    assert [(r["hour"], r["account"], r["dimension"], r["quantity"], r["events"], r["status"]) for r in rows] == [
        ("2026-11-26T09:00Z", ACCOUNTS[0], "api_calls", "7", 2, "unsealed"),
        ("2026-11-26T09:00Z", ACCOUNTS[1], "storage_gb", "1.5", 1, "unsealed"),
        ("2026-11-26T10:00Z", ACCOUNTS[0], "api_calls", "4", 1, "open"),
    ]
    # When the operator flushes now
    summary = ops.json("flush")
    assert (summary["succeeded"], summary["failed"], summary["left_pending"]) == (2, {}, 0)
    # Then sealed hours show Marketplace's answer, and filters narrow by customer, dimension and hour
    rows = ops.json("usage", "--since", "2h", "--customer", ops.subscriptions[0]["license_arn"])
    assert [(r["hour"], r["quantity"], r["status"], bool(r["metering_record_id"])) for r in rows] == [
        ("2026-11-26T09:00Z", "7", "sent", True),
        ("2026-11-26T10:00Z", "4", "open", False),
    ]
    rows = ops.json("usage", "--since", "2h", "--dimension", "storage_gb")
    assert [(r["account"], r["quantity"], r["status"]) for r in rows] == [(ACCOUNTS[1], "1.5", "sent")]
    rows = ops.json("usage", "--since", "2026-11-26T10:00", "--until", "2026-11-26T10:30Z", "--customer", ACCOUNTS[0])
    assert [(r["hour"], r["quantity"]) for r in rows] == [("2026-11-26T10:00Z", "4")]
    assert ops.billed() == [
        (ACCOUNTS[0], "api_calls", "2026-11-26T09", "7"),
        (ACCOUNTS[1], "storage_gb", "2026-11-26T09", "1.5"),
    ]


def test_a_record_parked_by_an_invalid_licence_is_redriven_once_fixed_and_billed_once(ops: Ops) -> None:
    # Given Marketplace refuses the licence at the first flush (one record per call: nothing else is refused)
    ops.use(0, "api_calls", 12, "a1")
    ops.move_to(START + timedelta(hours=1, minutes=10))
    ops.marketplace.admin.queue_errors({"operation": "BatchMeterUsage", "code": "InvalidLicenseException"})
    summary = ops.json("flush")
    assert summary["failed"] == {"InvalidLicenseException": 1}
    assert ops.billed() == []
    # Then `failed` shows the parked record, why, and that it may be sent again
    parked = ops.json("failed")
    assert [(r["account"], r["quantity"], r["status"], r["reason"], r["redrive"]) for r in parked] == [
        (ACCOUNTS[0], "12", "failed", "InvalidLicenseException", "yes")
    ]
    # When the operator looks first, then redrives (the cause being fixed: no fault queued any more)
    assert [r["outcome"] for r in ops.json("redrive", "--dry-run")] == ["would_requeue"]
    assert ops.json("failed")[0]["status"] == "failed"
    assert [r["outcome"] for r in ops.json("redrive")] == ["requeued"]
    # Then the record is no longer parked, and the next flush bills its unchanged quantity exactly once
    assert ops.json("failed") == []
    assert ops.json("flush")["succeeded"] == 1
    assert ops.billed() == [(ACCOUNTS[0], "api_calls", "2026-11-26T09", "12")]
    assert ops.json("redrive") == []
    assert ops.json("flush")["succeeded"] == 0
    assert ops.billed() == [(ACCOUNTS[0], "api_calls", "2026-11-26T09", "12")]


def test_a_duplicate_record_is_never_redriven(ops: Ops) -> None:
    # Given Marketplace already billed another quantity for the customer's hour (sent by someone else)
    subscription = ops.subscriptions[0]
    ops.marketplace.metering().batch_meter_usage(UsageRecords=[usage_record(subscription, "api_calls", 99, START)])
    ops.use(0, "api_calls", 3, "a1")
    ops.move_to(START + timedelta(hours=1, minutes=10))
    assert ops.json("flush")["failed"] == {"DuplicateRecord": 1}
    # Then `failed` says why it cannot go again, and redrive refuses it and changes nothing
    [row] = ops.json("failed")
    assert (row["status"], row["quantity"]) == ("duplicate", "3")
    assert row["redrive"].startswith("no: DuplicateRecord")
    [outcome] = ops.json("redrive")
    assert outcome["outcome"] == "refused"
    assert "DuplicateRecord" in outcome["why"]
    assert ops.json("flush")["succeeded"] == 0
    assert ops.billed() == [(ACCOUNTS[0], "api_calls", "2026-11-26T09", "99")]
    assert ops.json("failed")[0]["status"] == "duplicate"


def test_a_record_past_the_metering_window_cannot_be_redriven(ops: Ops) -> None:
    # Given a record parked for a cause that was fixed only a day later
    ops.use(1, "api_calls", 8, "b1")
    ops.move_to(START + timedelta(hours=1, minutes=10))
    ops.marketplace.admin.queue_errors({"operation": "BatchMeterUsage", "code": "InvalidLicenseException"})
    assert ops.json("flush")["failed"] == {"InvalidLicenseException": 1}
    ops.move_to(START + timedelta(hours=25))
    # Then redrive refuses it, saying Marketplace would no longer take it, and it stays parked
    [outcome] = ops.json("redrive")
    assert outcome["outcome"] == "refused"
    assert "24-hour window" in outcome["why"]
    assert [r["status"] for r in ops.json("failed")] == ["failed"]
    assert ops.billed() == []


def test_flush_draws_a_progress_bar_on_stderr_only(ops: Ops) -> None:
    ops.use(0, "api_calls", 1, "a1")
    ops.use(1, "api_calls", 1, "b1")
    ops.move_to(START + timedelta(hours=1, minutes=10))
    status, out, err = ops.cli("flush", "--progress")
    assert status == 0
    assert err.rstrip().endswith("2/2 records, 24 hours sealed")
    assert "[##############################]" in err
    assert out.splitlines()[0].split() == ["FLUSH"]
    assert ("succeeded", "2") in [tuple(line.split()) for line in out.splitlines()]


def test_forget_customer_erases_a_buyers_personal_data_and_keeps_what_billing_needs(ops: Ops) -> None:
    # Given a buyer who completed the onboarding form, whose usage was metered, and another buyer whose details an
    # earlier version kept on the customer's own item
    repository = DynamoCustomerRepository(ops.dynamodb, ops.settings.customers_table, ops.settings.contacts_table)
    first, second = (CustomerRef(PRODUCT.code, license_arn=s["license_arn"]) for s in ops.subscriptions)
    registered = repository.get(first)
    assert registered is not None
    repository.upsert_registration(registered, "nonce-1")
    assert repository.set_contact(first, {"company": "Acme", "email": "ada@example.com"}, "nonce-1") is not None
    ops.dynamodb.update_item(
        TableName=ops.settings.customers_table,
        Key={"pk": {"S": second.key}, "sk": {"S": "CUSTOMER"}},
        UpdateExpression="SET contact = :c",
        ExpressionAttributeValues={":c": {"M": {"email": {"S": "grace@example.com"}}}},
    )
    ops.use(0, "api_calls", 5, "u1")
    ops.move_to(START + timedelta(hours=1, minutes=10))
    assert ops.cli("flush", "--no-progress")[0] == 0
    before = (repository.get(first), ops.billed(), ops.json("usage", "--since", "2h"))
    # When the operator looks first, then erases each buyer's details
    status, looked, _ = ops.cli("forget-customer", ACCOUNTS[0], "--dry-run")
    assert status == 0
    assert "would_erase" in looked
    assert "company, email" in looked
    assert "ada@example.com" not in looked
    assert repository.contact(first) == {"company": "Acme", "email": "ada@example.com"}  # a dry run changes nothing
    (erased,) = ops.json("forget-customer", ACCOUNTS[0])
    (legacy,) = ops.json("forget-customer", second.license_arn or "")
    # Then their details are gone, from the contacts table and from the earlier layout
    assert (erased["outcome"], erased["fields"]) == ("erased", "company, email")
    assert (legacy["outcome"], legacy["fields"]) == ("erased", "email")
    assert repository.contact(first) == repository.contact(second) == {}
    items = ops.dynamodb.scan(TableName=ops.settings.customers_table)["Items"]
    assert not any("contact" in item for item in items)
    assert ops.dynamodb.scan(TableName=ops.settings.contacts_table)["Count"] == 0
    # and who they are to AWS, their usage and what Marketplace billed are as they were
    assert (repository.get(first), ops.billed(), ops.json("usage", "--since", "2h")) == before
    assert ops.billed() == [(ACCOUNTS[0], "api_calls", "2026-11-26T09", "5")]
    # and asking again erases nothing; the trace names the buyer and the fields, never their values
    (again,) = ops.json("forget-customer", ACCOUNTS[0])
    assert again["outcome"] == "nothing_to_erase"
    status, _, trace = ops.cli("forget-customer", ACCOUNTS[0])
    assert status == 0
    assert trace == ""
    status, _, error = ops.cli("forget-customer", "999999999999")
    assert status == 2
    assert "unknown customer: '999999999999'" in error


def test_the_erasure_trace_names_the_customer_and_fields_only(ops: Ops) -> None:
    repository = DynamoCustomerRepository(ops.dynamodb, ops.settings.customers_table, ops.settings.contacts_table)
    ref = CustomerRef(PRODUCT.code, license_arn=ops.subscriptions[0]["license_arn"])
    customer = repository.get(ref)
    assert customer is not None
    repository.upsert_registration(customer, "n")
    repository.set_contact(ref, {"contact_name": "Ada Lovelace", "email": "ada@example.com"}, "n")
    status, _, trace = ops.cli("forget-customer", ACCOUNTS[0])
    assert status == 0
    assert f"erased the personal data of {ref.key}: contact_name, email" in trace
    assert "Ada" not in trace
    assert "ada@example.com" not in trace


def test_set_tenant_links_a_customer_to_the_sellers_tenant_and_customers_finds_it(ops: Ops) -> None:
    first, second = (s["license_arn"] for s in ops.subscriptions)
    # When the operator links the first buyer to the seller's tenant "acme-42"
    (linked,) = ops.json("set-tenant", ACCOUNTS[0], "acme-42")
    assert (linked["customer"], linked["tenant"], linked["outcome"], linked["previous"]) == (
        first,
        "acme-42",
        "linked",
        None,
    )
    # Then the tenant finds it, and only it
    (found,) = ops.json("customers", "--tenant", "acme-42")
    assert (found["customer"], found["tenant"]) == (first, "acme-42")
    assert ops.json("customers", "--tenant", "nobody") == []
    # And linking again changes nothing; another tenant needs --replace, and a bad id is refused naming the field
    (again,) = ops.json("set-tenant", first, "acme-42")
    assert again["outcome"] == "unchanged"
    status, _, error = ops.cli("set-tenant", ACCOUNTS[0], "other-7")
    assert status == 2
    assert "linked to another tenant already" in error
    status, _, error = ops.cli("set-tenant", ACCOUNTS[1], "has space")
    assert status == 2
    assert "tenant_id must be" in error
    assert ops.json("customers", "--tenant", "other-7") == []
    (moved,) = ops.json("set-tenant", ACCOUNTS[0], "other-7", "--replace")
    assert (moved["outcome"], moved["previous"]) == ("moved", "acme-42")
    assert [c["customer"] for c in ops.json("customers", "--tenant", "other-7")] == [first]
    assert ops.json("customers", "--tenant", "acme-42") == []
    # And the second buyer was never touched
    (untouched,) = [c for c in ops.json("customers") if c["customer"] == second]
    assert untouched["tenant"] is None
