"""Review 24: the seller's back end talks to us over the network, server to server; an answer can be lost (a timeout,
a dropped connection, a Lambda that finished its write but not its response). Both seller steps are single use and
neither is idempotent, so the seller's identical retry of a request that succeeded is refused, and nothing lets it
recover:

- the sign-up exchange spends the value and answers the only copy of the tenant-link nonce: the identical, signed
  retry answers 409 "exchanged already", and the buyer can no longer be linked (back to AWS Marketplace's "Set up your
  account");
- the tenant link that succeeded answers 409 "Link already used ... or it is not this subscription's" to its
  identical retry, though the customer is linked to exactly that tenant (cli set-tenant's rule: "linking again to
  the same tenant changes nothing"). The seller reads a failure where there was none.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from functions.registration import signing
from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import (
    REDIRECT_PRODUCT,
    SECRET,
    Harness,
    cli,
    post_link,
    registration_harness,
    signup_value,
)


def a_buyer_at_the_sellers_page(harness: Harness) -> str:
    return signup_value(harness.register(harness.subscribe(REDIRECT_PRODUCT)["registration_token"]))


def test_the_sellers_identical_retry_of_an_exchange_whose_answer_was_lost_gets_the_same_claims(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    request = urllib.parse.urlencode(signing.signup_exchange(a_buyer_at_the_sellers_page(harness), SECRET))
    session = {"Idempotency-Key": ["signup-session-7f3a"]}  # review 24b: the retry repeats the first exchange's key
    lost = harness.post("/register/signup", request, headers=session)
    assert lost["statusCode"] == 200  # done on our side; the answer never reaches the seller
    retried = harness.post("/register/signup", request, headers=session)  # the very same request, a second later
    assert retried["statusCode"] == 200, retried["body"]
    assert json.loads(retried["body"]) == json.loads(lost["body"])
    # without the key (a leaked URL opened again) the repeat is refused: issue 24 §2's single use
    assert harness.post("/register/signup", request)["statusCode"] == 409


def test_the_sellers_identical_retry_of_a_link_whose_answer_was_lost_is_not_called_a_failure(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    request = urllib.parse.urlencode(signing.signup_exchange(a_buyer_at_the_sellers_page(harness), SECRET))
    claims = json.loads(harness.post("/register/signup", request)["body"])["customer"]
    link = signing.tenant_link(claims, "acme-42", SECRET)
    assert post_link(harness, link)["statusCode"] == 200  # linked; the answer never reaches the seller
    retried = post_link(harness, link)
    assert "acme-42" in cli(harness, "customers", "--tenant", "acme-42")[1]  # it is linked, to exactly that tenant
    assert retried["statusCode"] == 200, retried["body"][-400:]
