"""The browser tests' headless Chromium, for the buyer's life on the local stack."""

from tests.browser.conftest import browser, page  # noqa: F401
