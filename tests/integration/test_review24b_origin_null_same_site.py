"""Review 24b: ``Origin: null`` re-opens the cross-site hole d1fd99f closed, for any page on a sibling host.

A page whose form has ``referrerpolicy="no-referrer"`` (or whose document sends ``Referrer-Policy: no-referrer``, or
that runs in a sandboxed iframe) makes the browser send ``Origin: null`` with its cross-origin POST. The handler lets
``Origin: null`` through and refuses only ``Sec-Fetch-Site: cross-site``, so a sibling host of ours (same registrable
domain: ``Sec-Fetch-Site: same-site``; another tenant of a shared parent domain; or any page in a browser without
fetch metadata) auto-posts the attacker's own completion value and the victim sees our genuine form bound to the
attacker's subscription, then types their contact into it. Our own form always sends ``Sec-Fetch-Site: same-origin``
(the form's page and target are one origin) where the browser sends fetch metadata at all, so ``null`` with
``same-site`` is never ours.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from functions.settings import Settings
from local.apigateway import proxy_event
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import FORM, completion_value, invoke, registration_harness

ATTACKER = "999988887777"


def test_an_opaque_origin_post_from_a_sibling_site_is_refused(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    attackers_value = completion_value(
        harness.register(harness.subscribe(account=ATTACKER)["registration_token"])["body"]
    )
    event = proxy_event(
        "POST",
        "/register/complete",
        "/register/complete",
        headers={
            "Content-Type": [FORM],
            "Host": ["api.example"],
            "Origin": ["null"],  # the sibling page's form has referrerpolicy="no-referrer"
            "Sec-Fetch-Site": ["same-site"],
            "Sec-Fetch-Mode": ["navigate"],
        },
        body=urllib.parse.urlencode({"registration": attackers_value}).encode(),
    )
    shown = invoke(event)

    assert shown["statusCode"] == 403, f"answered {shown['statusCode']}: our form shown bound to the attacker's value"
    assert attackers_value not in shown["body"]
    assert harness.items(harness.settings.contacts_table) == []
