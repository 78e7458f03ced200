"""Review 24: our onboarding form only ever posts to itself (same origin), yet ``POST /register/complete`` answers a
post from any site. A foreign page that auto-posts an attacker's own signed form value (from the attacker's own
subscription, with the fields left empty) makes the victim's browser show our genuine "Welcome to ... Tell us who to
contact" page, bound to the attacker's subscription (422, the form re-shown). What the victim then types there is
stored as the contact of the attacker's subscription, and the seller's systems are told (Customer Details
Submitted) that this person is that subscriber: a login-CSRF / fixation of the buyer's identity on our own domain.
The browser says where the post came from (``Origin``, ``Sec-Fetch-Site``); nothing reads it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from functions.settings import Settings
from local.apigateway import proxy_event
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import FORM, completion_value, invoke, registration_harness

ATTACKER = "999988887777"
VICTIM = {"company": "Victim Corp", "contact_name": "Vera Victim", "email": "vera@victim.example"}


def test_a_post_from_a_foreign_site_never_shows_a_form_bound_to_someone_elses_subscription(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    # the attacker registers their own subscription and keeps its form's signed value, unsubmitted
    attackers_value = completion_value(
        harness.register(harness.subscribe(account=ATTACKER)["registration_token"])["body"]
    )

    # a page on evil.example auto-posts it to our form's address from the victim's browser
    event = proxy_event(
        "POST",
        "/register/complete",
        "/register/complete",
        headers={
            "Content-Type": [FORM],
            "Origin": ["https://evil.example"],
            "Sec-Fetch-Site": ["cross-site"],
            "Sec-Fetch-Mode": ["navigate"],
        },
        body=urllib.parse.urlencode({"registration": attackers_value}).encode(),
    )
    shown = invoke(event)
    chain = ""
    if shown["statusCode"] == 422:  # what happens next: the victim fills in our genuine page and submits it
        stored = harness.complete(completion_value(shown["body"]), **VICTIM)
        contacts = harness.items(harness.settings.contacts_table)
        chain = f"; the victim's submit answered {stored['statusCode']} and stored {contacts}"

    assert shown["statusCode"] == 403, f"a cross-site post answered {shown['statusCode']}{chain}"
    assert attackers_value not in shown["body"]
    assert harness.items(harness.settings.contacts_table) == []


def test_our_own_form_posts_pass_and_a_foreign_origin_without_fetch_metadata_is_refused(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    """(fix) What the browser sends for our own form passes: the same host in Origin, with Sec-Fetch-Site same-origin
    (review 24b: Origin: null is refused; our pages' Referrer-Policy: same-origin lets our form send its Origin).
    Another host in Origin is refused even where the browser sends no Sec-Fetch-Site."""
    harness = registration_harness(marketplace, dynamodb, handler_environment)

    def post(account: str, headers: dict[str, list[str]]) -> dict[str, Any]:
        value = completion_value(harness.register(harness.subscribe(account=account)["registration_token"])["body"])
        event = proxy_event(
            "POST",
            "/register/complete",
            "/register/complete",
            headers={"Content-Type": [FORM], "Host": ["api.example"], **headers},
            body=urllib.parse.urlencode({"registration": value, **VICTIM}).encode(),
        )
        return invoke(event)

    foreign = post("444455556666", {"Origin": ["https://evil.example"]})
    assert foreign["statusCode"] == 403, foreign["body"]
    assert "accepted only from its own page" in foreign["body"]
    assert harness.items(harness.settings.contacts_table) == []
    same = post("555566667777", {"Origin": ["https://api.example"], "Sec-Fetch-Site": ["same-origin"]})
    assert same["statusCode"] == 200, same["body"]
    opaque = post("666677778888", {"Origin": ["null"], "Sec-Fetch-Site": ["same-origin"]})
    assert opaque["statusCode"] == 403, opaque["body"]  # review 24b: an opaque origin is never our own form's
    assert len(harness.items(harness.settings.contacts_table)) == 1
