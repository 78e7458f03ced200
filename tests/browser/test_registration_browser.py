"""A buyer subscribes in the emulator's Marketplace pages and registers on ours, in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from functions.customers.model import CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from tests.browser.conftest import PRODUCT_CODE, PRODUCT_NAME

pytestmark = pytest.mark.browser
BUYER = "111122223333"


def subscribe_and_set_up(page: Page, stack: dict[str, Any], *, free_trial: bool = False) -> None:
    page.goto(stack["marketplace"].url + "/")
    product = page.locator(f'[data-product-code="{PRODUCT_CODE}"]')
    if free_trial:
        product.get_by_label("Free trial").check()
    product.locator(f"#subscribe-{PRODUCT_CODE}").click()
    expect(page.locator("#setup-account")).to_be_visible()


def only_subscription(stack: dict[str, Any]) -> dict[str, Any]:
    subscriptions: list[dict[str, Any]] = stack["marketplace"].admin.list_subscriptions()
    assert len(subscriptions) == 1
    return subscriptions[0]


def test_a_buyer_subscribes_registers_and_completes_the_form(page: Page, stack: dict[str, Any], dynamodb: Any) -> None:
    # Given the buyer subscribed on the Marketplace page
    subscribe_and_set_up(page, stack)
    # When they click "Set up your account": a real form POST to our fulfillment URL
    page.locator("#setup-account").click()
    # Then our onboarding page names the product
    expect(page.get_by_role("heading", name=f"Welcome to {PRODUCT_NAME}")).to_be_visible()
    assert page.url == stack["gateway"].url + "/register"
    page.screenshot(path="/tmp/onboarding.png", full_page=True)
    # When they fill in the form and submit it
    page.fill("#company", "Acme <Corp>")
    page.fill("#contact_name", "Ada Lovelace")
    page.fill("#email", "ada@example.com")
    page.fill("#phone", "+44 20 7946 0000")
    page.click("#complete-registration")
    # Then the confirmation shows what they typed, as text
    expect(page.locator("#confirmation")).to_have_text("You are all set")
    expect(page.locator("dd").first).to_have_text("Acme <Corp>")
    # and the customer is stored with every field
    subscription = only_subscription(stack)
    settings = stack["settings"]
    repository = DynamoCustomerRepository(dynamodb, settings.customers_table, settings.contacts_table)
    ref = CustomerRef(PRODUCT_CODE, license_arn=subscription["license_arn"])
    customer = repository.get(ref)
    assert customer is not None
    assert customer.customer_aws_account_id == BUYER
    assert customer.agreement_id == subscription["agreement_id"]
    assert customer.state is SubscriptionState.PENDING
    assert customer.free_trial is False
    assert customer.registered_at is not None
    assert repository.contact(ref) == {
        "company": "Acme <Corp>",
        "contact_name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
    }


def test_a_reload_after_registering_shows_the_same_page(page: Page, stack: dict[str, Any]) -> None:
    subscribe_and_set_up(page, stack)
    page.locator("#setup-account").click()
    expect(page.get_by_role("heading", name=f"Welcome to {PRODUCT_NAME}")).to_be_visible()
    # a reload re-posts the same single-use token (a GET would get the 405 explanation page instead)
    page.reload()
    expect(page.get_by_role("heading", name=f"Welcome to {PRODUCT_NAME}")).to_be_visible()
    # answered from our record of the first registration: Marketplace saw the token once
    calls = stack["marketplace"].admin.calls()
    assert [c["http_status"] for c in calls if c["operation"] == "ResolveCustomer"] == [200]


def test_a_free_trial_buyer_registers(page: Page, stack: dict[str, Any], dynamodb: Any) -> None:
    subscribe_and_set_up(page, stack, free_trial=True)
    page.locator("#setup-account").click()
    expect(page.get_by_text("Your free trial has started.")).to_be_visible()
    subscription = only_subscription(stack)
    customer = DynamoCustomerRepository(dynamodb, stack["settings"].customers_table).get(
        CustomerRef(PRODUCT_CODE, license_arn=subscription["license_arn"])
    )
    assert customer is not None
    assert customer.free_trial is True


def test_an_expired_token_sends_the_buyer_back_to_marketplace(page: Page, stack: dict[str, Any], dynamodb: Any) -> None:
    # Given the set-up page was left open longer than the token lives
    subscribe_and_set_up(page, stack)
    admin = stack["marketplace"].admin
    admin.advance_clock(admin.get_config()["token_ttl_seconds"] + 60)
    # When the buyer clicks "Set up your account"
    page.locator("#setup-account").click()
    # Then they are told to start again from Marketplace, and nothing is stored
    expect(page.get_by_role("heading", name="Registration link expired")).to_be_visible()
    expect(page.get_by_text('click "Set up your account"')).to_be_visible()
    assert dynamodb.scan(TableName=stack["settings"].customers_table)["Items"] == []
