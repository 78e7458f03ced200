"""Review 24: the registration function has 29 s (API Gateway's limit too), but its ResolveCustomer alone may take
several times that: MAX_ATTEMPTS tries, each waiting up to the metering client's connect and read timeouts, with
backoff between them, and then GetAgreementTerms and DynamoDB. When AWS Marketplace is slow (answers after the read
timeout, or not at all), the function is cut off at 29 s in the middle of its retries: the buyer's browser gets API
Gateway's raw JSON (504 "Endpoint request timed out", or 502 "Internal server error") instead of our "AWS
Marketplace is busy right now. Try again in a minute." page (MarketplaceUnavailable, 503), and with single-use
tokens an attempt that may have resolved the token is forgotten with the process, so the reload is told the link
"expired or was already used" (ExpiredToken) rather than AnswerLost. The retries need a deadline taken from the
invocation's remaining time."""

from __future__ import annotations

from aws_cdk.assertions import Template

from functions.marketplace.customers import MAX_ATTEMPTS, MAX_DELAY_SECONDS
from functions.wiring.aws_clients import RESOLVE_CONFIG


def test_resolve_customer_gives_up_before_the_registration_function_is_killed(template: Template) -> None:
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "functions.handlers.registration.handler"}}
    ).values()
    function_timeout = function["Properties"]["Timeout"]
    # (fix) ResolveCustomer has a client of its own now (the shared metering client stays the flush's)
    per_attempt = RESOLVE_CONFIG.connect_timeout + RESOLVE_CONFIG.read_timeout
    worst_case = MAX_ATTEMPTS * per_attempt + (MAX_ATTEMPTS - 1) * MAX_DELAY_SECONDS
    # the answer (our page) needs the last seconds: ResolveCustomer must give up before the function's deadline
    assert worst_case < function_timeout, (
        f"ResolveCustomer may take {worst_case:.0f} s ({MAX_ATTEMPTS} x {per_attempt} s + backoff); "
        f"the function has {function_timeout} s"
    )
