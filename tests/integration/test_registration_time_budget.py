"""Review 24, finding 6: ResolveCustomer's retries stop in time for our own page. Through the real handler with the
Lambda context's remaining time: where another attempt would not end before the function's deadline (less what our
answer needs), the buyer gets our 503 "AWS Marketplace is busy" page after one attempt, never API Gateway's raw
timeout; with the whole 29 s the same throttling is retried and the buyer registers."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from functions.handlers import registration
from functions.settings import Settings
from local.apigateway import LambdaContext, proxy_event
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import FORM, registration_harness


def register_with(timeout_seconds: float, token: str) -> dict[str, Any]:
    body = urllib.parse.urlencode({"x-amzn-marketplace-token": token}).encode()
    event = proxy_event("POST", "/register", "/register", headers={"Content-Type": [FORM]}, body=body)
    context = LambdaContext(function_name="registration-test", timeout_seconds=timeout_seconds)
    response: dict[str, Any] = registration.handler(event, context)
    return response


def resolve_calls(marketplace: EmulatorHandle) -> int:
    return len([c for c in marketplace.admin.calls(operation="ResolveCustomer") if c["operation"] == "ResolveCustomer"])


def test_resolve_customer_is_not_retried_past_the_functions_deadline(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    token = harness.subscribe()["registration_token"]
    # Given Marketplace throttles once, and the invocation has 10 s left: less than our answer's margin and one more
    # attempt (5 s + 2 s connect + 5 s read)
    marketplace.admin.queue_errors({"operation": "ResolveCustomer", "code": "ThrottlingException"})
    short = register_with(10, token)
    # Then the buyer gets our page, saying to try again, after a single attempt, and nothing is stored
    assert short["statusCode"] == 503, short["body"]
    assert "AWS Marketplace is busy" in short["body"]
    assert resolve_calls(marketplace) == 1
    assert harness.items(harness.settings.customers_table) == []
    # And with the function's whole 29 s, the same throttling is retried and the buyer registers
    marketplace.admin.queue_errors({"operation": "ResolveCustomer", "code": "ThrottlingException"})
    whole = register_with(29, token)
    assert whole["statusCode"] == 200, whole["body"]
    assert resolve_calls(marketplace) == 3
    assert len(harness.items(harness.settings.customers_table)) == 1
