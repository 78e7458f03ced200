"""Review 24c: a malformed ``Origin`` header on ``POST /register/complete`` answers 500, not a clear refusal.

``_refuse_cross_site`` parses ``Origin`` with ``urllib.parse.urlsplit``, which raises ``ValueError("Invalid IPv6
URL")`` for an unbalanced bracket (``https://[``). Nothing catches it there, so the catch-all answers 500 and logs a
traceback ("registration failed") for what is a client's mistake (or a probe): the common brief says never 5xx for a
client mistake. Any Origin that does not parse is not our own origin: 403, like any other foreign Origin.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from functions.settings import Settings
from local.apigateway import proxy_event
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import FORM, completion_value, invoke, registration_harness


@pytest.mark.parametrize("origin", ["https://[", "http://[::1", "https://api.example]"])
def test_an_unparseable_origin_is_refused_not_a_server_error(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings], origin: str
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    value = completion_value(harness.register(harness.subscribe(account="111122223333")["registration_token"])["body"])
    event = proxy_event(
        "POST",
        "/register/complete",
        "/register/complete",
        headers={"Content-Type": [FORM], "Host": ["api.example"], "Origin": [origin]},
        body=urllib.parse.urlencode({"registration": value}).encode(),
    )
    shown = invoke(event)

    assert shown["statusCode"] == 403, f"Origin {origin!r} answered {shown['statusCode']}"
    assert value not in shown["body"]
    assert harness.items(harness.settings.contacts_table) == []
