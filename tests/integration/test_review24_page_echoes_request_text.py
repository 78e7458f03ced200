"""Review 24: our error pages say they never include request data (``functions.handlers.registration``: "the message
never includes request data"), but a form field whose value is not UTF-8 is refused with "The form field <name> is
not UTF-8 text.", where <name> is whatever the request named it: any text up to the 16 kB body. A foreign page that
auto-posts such a form makes our genuine fulfillment page (escaped, but on our domain, titled "Request not
accepted") display the attacker's sentence to the buyer: content injection for phishing ("call this number"). A
field name we do not know needs no echo: "a form field is not UTF-8 text" says as much."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import registration_harness

PHISH = "Your+AWS+subscription+is+suspended.+Call+our+billing+desk+at+%2B1-555-0100+to+restore+it"


@pytest.mark.parametrize("route", ["/register", "/register/complete", "/register/tenant"])
def test_a_refused_form_never_shows_the_requests_own_text(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings], route: str
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    answer = harness.post(route, f"{PHISH}=%FF".encode())
    assert answer["statusCode"] == 400
    assert "Call our billing desk" not in answer["body"], answer["body"][-300:]
