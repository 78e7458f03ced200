"""The local API Gateway: proxy events in, proxy responses out, over real loopback HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from local.apigateway import LocalApiGateway, Route


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 201,
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"event": event, "remaining": context.get_remaining_time_in_millis()}),
        "isBase64Encoded": False,
    }


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    return urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers or {}))


def test_a_request_becomes_the_rest_proxy_event_and_the_response_comes_back() -> None:
    with LocalApiGateway([Route("POST", "/items/{id}", echo)]) as api:
        response = request(
            f"{api.url}/items/a%20b?x=1&x=2", "POST", b"k=v", {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert response.status == 201
        assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
        payload = json.loads(response.read())
    event = payload["event"]
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/items/{id}", "/items/a b", "POST")
    assert event["pathParameters"] == {"id": "a b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["queryStringParameters"] == {"x": "2"}
    assert (event["body"], event["isBase64Encoded"]) == ("k=v", False)
    assert event["requestContext"]["resourcePath"] == "/items/{id}"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert 0 < payload["remaining"] <= 29_000


def test_binary_bodies_arrive_base64_encoded() -> None:
    with LocalApiGateway([Route("POST", "/b", echo)]) as api:
        event = json.loads(request(f"{api.url}/b", "POST", b"\xff\x00", {"Content-Type": "image/png"}).read())["event"]
    assert (event["body"], event["isBase64Encoded"]) == ("/wA=", True)


def test_an_undefined_route_and_a_missing_api_key_are_refused_like_api_gateway() -> None:
    with LocalApiGateway([Route("POST", "/usage", echo, api_key="k")]) as api:
        for method, path in (("GET", "/usage"), ("POST", "/nowhere"), ("POST", "/usage")):
            with pytest.raises(urllib.error.HTTPError) as refused:
                request(api.url + path, method, b"{}")
            assert refused.value.code == 403
        assert request(f"{api.url}/usage", "POST", b"{}", {"x-api-key": "k"}).status == 201
