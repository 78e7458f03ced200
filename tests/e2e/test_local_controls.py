"""The local stack cannot be broken by one request: bad control input is refused and changes nothing, a web page in
the developer's browser cannot drive it, and the local API Gateway answers odd requests as API Gateway does."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.local_stack import LaunchedStack, launched


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedStack]:
    with launched(tmp_path_factory.mktemp("controls") / "local.json", "--flush-interval=0") as started:
        yield started


def call(url: str, method: str = "POST", body: bytes | None = None, **headers: str) -> tuple[int, Any]:
    """The status and the answer: its JSON, its text (a page), or None (no body)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    if not raw:
        return status, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def api(stack: LaunchedStack) -> str:
    return stack.url("Usage API").removesuffix("/usage")


def emulator_now(stack: LaunchedStack) -> str:
    status, clock = call(f"{stack.url('Marketplace emulator')}/admin/clock", "GET")
    assert status == 200
    return str(clock["offset_seconds"])


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"advance_seconds": "nan"}', JSON, 400),
        (b'{"advance_seconds": NaN}', JSON, 400),
        (b'{"advance_seconds": 1e300}', JSON, 400),
        (b'{"advance_seconds": true}', JSON, 400),
        (b'{"advance_seconds": 60}', {"Content-Type": "text/plain"}, 415),  # a cross-site "simple" POST
        (b'{"advance_seconds": 60}', {**JSON, "Origin": "https://evil.example"}, 403),
    ],
    ids=["nan text", "NaN literal", "1e300", "boolean", "text/plain", "another origin"],
)
def test_bad_clock_control_input_is_refused_and_changes_nothing(
    stack: LaunchedStack, body: bytes, headers: dict[str, str], status: int
) -> None:
    before = emulator_now(stack)
    answered, _ = call(f"{api(stack)}/_local/clock", body=body, **headers)
    assert answered == status
    assert emulator_now(stack) == before
    # and every part still answers
    assert call(f"{api(stack)}/_local/clock", body=b'{"advance_seconds": 0}', **JSON)[0] == 200
    assert call(f"{stack.url('Marketplace emulator')}/admin/health", "GET")[0] == 200
    assert call(f"{api(stack)}/register", "GET")[0] == 405  # the registration page explains itself


@pytest.mark.parametrize(
    ("route", "body", "headers", "status"),
    [
        ("clock", b'{"advance_seconds": "nan"}', JSON, 400),
        ("clock", b'{"advance_seconds": 1e300}', JSON, 400),
        ("clock", b'{"now": "9999-12-31T00:00:00Z"}', JSON, 400),
        ("reset", b"{}", {"Content-Type": "text/plain"}, 415),
        ("reset", b"{}", {**JSON, "Origin": "https://evil.example"}, 403),
    ],
)
def test_the_emulators_admin_routes_refuse_bad_and_cross_site_requests(
    stack: LaunchedStack, route: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    emulator = stack.url("Marketplace emulator")
    products_before = call(f"{emulator}/admin/products", "GET")[1]
    before = emulator_now(stack)
    assert call(f"{emulator}/admin/{route}", "PUT" if route == "clock" else "POST", body, **headers)[0] == status
    assert emulator_now(stack) == before
    assert call(f"{emulator}/admin/products", "GET")[1] == products_before  # the world was not reset


def test_a_cross_site_subscription_on_the_buyer_page_is_refused(stack: LaunchedStack) -> None:
    emulator = stack.url("Marketplace emulator")
    form = b"product_code=demo-saas-product&account_id=999988887777"
    status, _ = call(
        f"{emulator}/buyer/subscribe",
        body=form,
        **{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"},
    )
    assert status == 403
    assert call(f"{emulator}/admin/subscriptions?account_id=999988887777", "GET")[1] == {"subscriptions": []}


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE"])
def test_methods_no_route_defines_get_api_gateways_answer(stack: LaunchedStack, method: str) -> None:
    status, body = call(f"{api(stack)}/usage", method)
    assert status == 403
    assert body == (None if method == "HEAD" else {"message": "Missing Authentication Token"})


@pytest.mark.parametrize("length", ["abc", "-1", "1 0"])
def test_a_bad_content_length_gets_one_400_and_the_connection_closed(stack: LaunchedStack, length: str) -> None:
    host, port = re.match(r"http://([^:]+):(\d+)", api(stack)).groups()  # type: ignore[union-attr]
    request = (
        f"POST /usage HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
        "GET /register HTTP/1.1\r\nHost: x\r\n\r\n"  # smuggled: must never be answered as a request
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):  # the server closes the connection: recv returns b""
            received += chunk
    assert received.count(b"HTTP/1.1 ") == 1
    assert received.startswith(b"HTTP/1.1 400 ")


def test_controls_still_work_for_the_readme_commands(stack: LaunchedStack, tmp_path: Path) -> None:
    status, moved = call(f"{api(stack)}/_local/clock", body=b'{"advance_seconds": 60}', **JSON)
    assert status == 200
    assert "now" in moved
    status, flushed = call(f"{api(stack)}/_local/flush", body=b"{}", **JSON)
    assert (status, flushed["failed"]) == (200, {})


def test_the_drain_control_refuses_other_sites_and_answers_what_the_handler_got(stack: LaunchedStack) -> None:
    drain = f"{api(stack)}/_local/drain"
    assert call(drain, body=b"{}", **{**JSON, "Origin": "https://evil.example"})[0] == 403
    assert call(drain, body=b"{}", **{"Content-Type": "text/plain"})[0] == 415
    status, drained = call(drain, body=b"{}", **JSON)
    assert status == 200
    assert set(drained) == {"delivered", "failed"}
    assert drained["failed"] == 0


def rebound(url: str) -> str:
    """The Host a page at evil.example sends once its name resolves to this loopback address (DNS rebinding)."""
    return f"evil.example:{urllib.parse.urlsplit(url).port}"


@pytest.mark.parametrize(
    ("server", "method", "path", "body"),
    [
        ("api", "POST", "/_local/clock", b'{"advance_seconds": 60}'),
        ("api", "POST", "/_local/flush", b"{}"),
        ("api", "POST", "/_local/drain", b"{}"),
        ("api", "GET", "/_local/openapi.json", None),
        ("emulator", "PUT", "/admin/clock", b'{"advance_seconds": 60}'),
        ("emulator", "POST", "/admin/reset", b"{}"),
        ("emulator", "GET", "/admin/subscriptions", None),  # registration tokens: a page must not read them either
        ("emulator", "POST", "/buyer/subscribe", b"product_code=demo-saas-product&account_id=999988887777"),
    ],
)
def test_a_page_rebinding_its_name_to_loopback_drives_nothing(
    stack: LaunchedStack, server: str, method: str, path: str, body: bytes | None
) -> None:
    base = api(stack) if server == "api" else stack.url("Marketplace emulator")
    emulator = stack.url("Marketplace emulator")
    products_before = call(f"{emulator}/admin/products", "GET")[1]
    clock_before = emulator_now(stack)
    # Given a page at evil.example whose name now resolves to 127.0.0.1: its requests are same-origin to it
    host = rebound(base)
    content_type = "application/x-www-form-urlencoded" if path == "/buyer/subscribe" else "application/json"
    headers = {"Host": host, "Origin": f"http://{host}", "Content-Type": content_type}
    # When it calls a local control or the emulator's admin API
    status, answer = call(f"{base}{path}", method, body, **headers)
    # Then it is refused, and nothing moved or was reset
    assert status == 403, answer
    assert "loopback" in json.dumps(answer)
    assert emulator_now(stack) == clock_before
    assert call(f"{emulator}/admin/products", "GET")[1] == products_before
    assert call(f"{emulator}/admin/subscriptions?account_id=999988887777", "GET")[1] == {"subscriptions": []}
    # while a request addressed to localhost is answered
    local = base.replace("127.0.0.1", "localhost")
    if server == "api":
        assert call(f"{local}/_local/clock", body=b'{"advance_seconds": 0}', **JSON)[0] == 200
    else:
        assert call(f"{local}/admin/health", "GET")[0] == 200


@pytest.mark.parametrize("direction", [1, -1], ids=["forwards", "backwards"])
def test_the_apps_clock_moves_no_further_than_the_emulators_may(stack: LaunchedStack, direction: int) -> None:
    clock = f"{api(stack)}/_local/clock"
    emulator = stack.url("Marketplace emulator")
    far = direction * 3600 * 86400  # 3,600 days: inside the emulator's 3,660-day bound
    # Given both clocks moved far, then the emulator's alone set back to real time (its admin API)
    assert call(clock, body=json.dumps({"advance_seconds": far}).encode(), **JSON)[0] == 200
    assert call(f"{emulator}/admin/clock", "PUT", b'{"real": true}', **JSON)[0] == 200
    try:
        # When the stack's clock is moved as far again: the emulator would take it, the app's clock would not
        status, answer = call(clock, body=json.dumps({"advance_seconds": far}).encode(), **JSON)
        # Then it is refused, naming the bound, and neither clock moved
        assert status == 400, answer
        assert "at most 3660 days off" in answer["message"]
        assert emulator_now(stack) == "0.0"
    finally:
        # (both clocks back where they were, for the other tests of this stack)
        assert call(clock, body=json.dumps({"advance_seconds": -far}).encode(), **JSON)[0] == 200
        assert call(f"{emulator}/admin/clock", "PUT", b'{"real": true}', **JSON)[0] == 200
