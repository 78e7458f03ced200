"""Attack review 81: the registration handler routed by hand (commit 9d58140) reads the proxy event differently from
Powertools' resolver it replaced, and answers differently for these events. None of them is what API Gateway sends for
a real request today (it sends uppercase methods, a ``resource``, a dict of string headers): each is a malformed or
hand-made event (a test harness, a replay tool, an operator's ``aws lambda invoke``), where the rules say the handler
must not crash, must keep the cross-site refusal, and must answer as the old resolver did.

- a header whose value is JSON ``null`` becomes the text ``"None"``: ``Host: null`` with ``Origin: https://None``
  passes ``_refuse_cross_site`` (the old resolver saw no Host and refused), and the completion is stored;
  ``Origin: null`` (JSON) refuses our own form's post, which the old resolver took as no Origin;
- ``headers`` given as name/value pairs crashes the handler (AttributeError: a Lambda error, API Gateway's 502);
  the old resolver's CaseInsensitiveDict read them and answered a page;
- a lower-case ``httpMethod`` is 405 (the old resolver upper-cased it and ran the route);
- an event with ``path`` and no ``resource`` is 404 (the old resolver routed on ``path``).
"""

from __future__ import annotations

import urllib.parse
from types import SimpleNamespace
from typing import Any

import pytest

from functions.handlers import registration
from functions.wiring import registration as registration_wiring
from local.apigateway import LambdaContext

FORM = "application/x-www-form-urlencoded"
HOST = "fulfil.example"


class Recording:
    """The registration domain, recording what reaches it (a completion reaching it is a stored contact)."""

    def __init__(self) -> None:
        self.completed: list[str | None] = []
        self.registered: list[str | None] = []

    def complete(self, value: str | None, fields: dict[str, list[str]]) -> Any:
        self.completed.append(value)
        return SimpleNamespace(product_name="Acme", contact={})

    def register(self, token: str | None, free_trial_claimed: bool) -> Any:
        self.registered.append(token)
        return SimpleNamespace(redirect_url=None, product_name="Acme", completion_value="cv", free_trial=False)


@pytest.fixture
def domain(monkeypatch: pytest.MonkeyPatch) -> Recording:
    recording = Recording()
    wiring = SimpleNamespace(
        registrations=recording,
        signups=SimpleNamespace(),
        idempotency=SimpleNamespace(register_lambda_context=lambda context: None),
        deadline=SimpleNamespace(start=lambda context: None),
    )
    monkeypatch.setattr(registration_wiring, "build", lambda settings: wiring)
    return recording


def event(route: str, headers: Any, body: str, *, method: str = "POST", resource: bool = True) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "path": route,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "req-1", "stage": "prod", "resourcePath": route},
    }
    if resource:
        shaped["resource"] = route
    return shaped


def invoke(shaped: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = registration.handler(shaped, LambdaContext(function_name="registration-atk81"))
    return answer


COMPLETION = urllib.parse.urlencode({"registration": "signed-value", "email": "buyer@example.com"})


def test_a_null_host_header_does_not_let_a_foreign_origin_through(domain: Recording) -> None:
    # the old resolver read Host as None (no host): any Origin was refused. Now str(None) is the host "None", and the
    # Origin "https://None" is taken for our own
    answer = invoke(
        event("/register/complete", {"Content-Type": FORM, "Host": None, "Origin": "https://None"}, COMPLETION)
    )
    assert domain.completed == []  # nothing stored
    assert answer["statusCode"] == 403
    assert "accepted only from its own page" in answer["body"]


def test_a_null_origin_header_is_no_origin_as_before(domain: Recording) -> None:
    # the old resolver's headers.get("origin") was None: no Origin, our own form's post went through (200)
    answer = invoke(event("/register/complete", {"Content-Type": FORM, "Host": HOST, "Origin": None}, COMPLETION))
    assert answer["statusCode"] == 200, answer["body"][-300:]
    assert domain.completed == ["signed-value"]


def test_headers_given_as_pairs_answer_a_page_not_a_lambda_error(domain: Recording) -> None:
    # the old resolver (CaseInsensitiveDict(event["headers"])) read pairs and answered the route's page
    answer = invoke(event("/register", [("Content-Type", FORM)], "x-amzn-marketplace-token=tok"))
    assert answer["statusCode"] == 200
    assert domain.registered == ["tok"]


def test_a_lower_case_method_runs_the_route_as_before(domain: Recording) -> None:
    # the old resolver upper-cased httpMethod: "post" ran POST /register
    answer = invoke(event("/register", {"Content-Type": FORM}, "x-amzn-marketplace-token=tok", method="post"))
    assert answer["statusCode"] == 200
    assert domain.registered == ["tok"]


def test_an_event_without_a_resource_is_routed_by_its_path_as_before(domain: Recording) -> None:
    # the old resolver routed on event["path"]; now a missing resource is "" and every such request is 404
    answer = invoke(event("/register", {"Content-Type": FORM}, "x-amzn-marketplace-token=tok", resource=False))
    assert answer["statusCode"] == 200
    assert domain.registered == ["tok"]
