"""Review 24b: the idempotent exchange (dc1d4ca) gives a leaked sign-up URL its value back.

The exchange is signed by the seller's back end, but the back end signs whatever value its page was opened with: it
cannot tell its own retry (an answer lost) from a second visitor opening the same URL. Issue 24 §2: "whoever sees it
first can link the victim's subscription to their own tenant ... a second exchange is refused". Now, within the
value's 15 minutes, the second exchange answers the same claims with the same tenant-link nonce: an attacker who saw
the URL (browser history, a proxy's log, the seller page's own Referer to its analytics) opens it, the seller's back
end exchanges it for them, and the attacker's tenant takes the link while the victim is still filling in the seller's
sign-up form. The victim's own link is then refused (409) and their subscription is metered into the attacker's
tenant. Before the fix the attacker's exchange was 409 and nothing could be linked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from functions.clock import FileOffsetClock
from functions.registration import signing
from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import (
    SECRET,
    SIGNUP_URL,
    exchange,
    post_link,
    registration_harness,
    signup_value,
)


def test_a_second_visitor_of_the_sign_up_url_cannot_link_the_buyer_to_their_tenant(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings], tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock-offset-seconds"
    clock_file.write_text("0")
    harness = registration_harness(
        marketplace,
        dynamodb,
        handler_environment,
        products=[{"code": "leak1", "name": "Leak", "customer_mode": "license", "signup_redirect_url": SIGNUP_URL}],
        CLOCK_FILE=str(clock_file),
    )
    value = signup_value(harness.register(harness.subscribe("leak1")["registration_token"]))

    def now() -> float:
        return FileOffsetClock(str(clock_file)).now().timestamp()

    # the victim's browser lands on the seller's page: its back end exchanges the value for the victim's session
    victims = exchange(harness, value)
    assert victims["statusCode"] == 200, victims["body"]
    # a minute later someone who saw the URL opens it: the seller's back end exchanges it the same way
    clock_file.write_text("60")
    attackers = exchange(harness, value)
    if attackers["statusCode"] == 200:
        # and links the buyer to the attacker's tenant before the victim finished the seller's sign-up form
        claims = json.loads(attackers["body"])["customer"]
        post_link(harness, signing.tenant_link(claims, "mallory-tenant", SECRET, now=now()))
    victim_claims = json.loads(victims["body"])["customer"]
    victims_link = post_link(harness, signing.tenant_link(victim_claims, "victim-tenant", SECRET, now=now()))

    (customer,) = harness.customers().list_all()
    assert customer.tenant_id == "victim-tenant", (
        f"second exchange answered {attackers['statusCode']}; the victim's link {victims_link['statusCode']}"
    )
    assert victims_link["statusCode"] == 200
