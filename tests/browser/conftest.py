"""A real headless Chromium against the local stack: the emulator's buyer pages, the local API Gateway
running the real registration handler, DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from functions.settings import Settings
from local.apigateway import LocalApiGateway, registration_routes
from local.marketplace.testing import EmulatorHandle

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PRODUCT_CODE = "browserprod1"
PRODUCT_NAME = "Acme Browser Analytics"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def gateway() -> Iterator[LocalApiGateway]:
    with LocalApiGateway(registration_routes()) as api:
        yield api


@pytest.fixture
def stack(
    marketplace: EmulatorHandle, gateway: LocalApiGateway, handler_environment: Callable[..., Settings]
) -> dict[str, Any]:
    """The emulator sells one product whose fulfillment URL is the local gateway's /register."""
    marketplace.admin.create_product(
        PRODUCT_CODE, ["api_calls"], name=PRODUCT_NAME, fulfillment_url=f"{gateway.url}/register"
    )
    settings = handler_environment(
        [{"code": PRODUCT_CODE, "name": PRODUCT_NAME, "dimensions": [{"name": "api_calls"}]}],
        SIGNING_SECRET="browser-test-signing-secret",
    )
    return {"settings": settings, "marketplace": marketplace, "gateway": gateway}
