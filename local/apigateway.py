"""A small local API Gateway: HTTP in, the REST API (v1) proxy event AWS sends, the real handler, HTTP out.

    with LocalApiGateway([Route("POST", "/register", registration.handler)]) as api:
        api.url  # "http://127.0.0.1:N"

Handlers run in-process, one invocation at a time per route as one Lambda instance would (Powertools'
resolvers keep the current event on a module-level object). A route with ``api_key`` stands in for IAM
authorization: requests without a matching ``x-api-key`` header get API Gateway's 403.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.loopback import LoopbackServer, owner_of

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
STAGE = "local"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own limit
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")


@dataclass
class Route:
    method: str
    resource: str  # API Gateway resource path, with {name} parameters: "/usage", "/items/{id}"
    handler: Handler
    api_key: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.resource))
        found = re.fullmatch(pattern, path)
        return {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()} if found else None


@dataclass
class LambdaContext:
    """What handlers read from Lambda's context object (Powertools Logger, idempotency)."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    timeout_seconds: float = 29.0
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def proxy_event(
    method: str,
    resource: str,
    path: str,
    *,
    headers: dict[str, list[str]] | None = None,
    query: dict[str, list[str]] | None = None,
    body: bytes = b"",
    path_parameters: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = STAGE,
) -> dict[str, Any]:
    """The REST API proxy integration event for one request, as API Gateway builds it."""
    headers = headers or {}
    query = query or {}
    content_type = next((v[0] for k, v in headers.items() if k.lower() == "content-type" and v), "")
    is_text = not body or content_type.startswith(_TEXT_TYPES)
    try:
        text_body: str | None = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text_body = None
    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in headers.items()} or None,
        "multiValueHeaders": headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "protocol": "HTTP/1.1",
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "identity": {"sourceIp": source_ip, "userAgent": next(iter(headers.get("User-Agent", [])), None)},
        },
        "body": (text_body if text_body is not None else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": bool(body) and text_body is None,
    }


def invoke(route: Route, event: dict[str, Any]) -> dict[str, Any]:
    name = getattr(route.handler, "__module__", "handler").rsplit(".", 1)[-1]
    with route._lock:
        return route.handler(event, LambdaContext(function_name=f"local-{name}"))


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # request lines would repeat the Lambda's own logs
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # API Gateway serves every method; ours defines none of these, which it answers like any undefined method
    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def do_TRACE(self) -> None:
        self._handle()

    def _content_length(self) -> int | None:
        """The body's length; None for a request whose body cannot be delimited (then the connection is closed,
        so its bytes are never read as another request)."""
        if self.headers.get("Transfer-Encoding"):
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0
        return int(raw) if raw.strip().isdigit() else None

    def _handle(self) -> None:
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._send(400, {"Content-Type": ["application/json"]}, b'{"message":"Bad Request"}')
            return
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            self._send(413, {"Content-Type": ["application/json"]}, b'{"message":"Request Too Long"}')
            return
        body = self.rfile.read(length) if length > 0 else b""
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        method = self.command
        gateway: LocalApiGateway = owner_of(self)
        matches = [(route, route.match(method, path)) for route in gateway.routes]
        found = next(((route, params) for route, params in matches if params is not None), None)
        if found is None:
            # API Gateway's answer for an undefined method or resource
            self._send(403, {"Content-Type": ["application/json"]}, b'{"message":"Missing Authentication Token"}')
            return
        route, params = found
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name, []).append(value)
        if route.api_key is not None and self.headers.get("x-api-key") != route.api_key:
            self._send(403, {"Content-Type": ["application/json"]}, b'{"message":"Forbidden"}')
            return
        event = proxy_event(
            method,
            route.resource,
            path,
            headers=headers,
            query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
            body=body,
            path_parameters=params,
            source_ip=self.client_address[0],
        )
        try:
            response = invoke(route, event)
        except Exception:  # an unhandled error in a Lambda is API Gateway's 502
            self._send(502, {"Content-Type": ["application/json"]}, b'{"message": "Internal server error"}')
            raise
        self._send_proxy_response(response)

    def _send_proxy_response(self, response: dict[str, Any]) -> None:
        headers: dict[str, list[str]] = {k: [str(v)] for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = [str(v) for v in values]
        raw = response.get("body") or ""
        body = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
        self._send(int(response["statusCode"]), headers, body)

    def _send(self, status: int, headers: dict[str, list[str]], body: bytes) -> None:
        self.send_response(status)
        for name, values in headers.items():
            if name.lower() in {"content-length", "connection", "transfer-encoding"}:
                continue
            for value in values:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class LocalApiGateway(LoopbackServer):
    handler_class = _RequestHandler

    def __init__(self, routes: list[Route], host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.routes = routes


def registration_routes() -> list[Route]:
    """The public registration routes, as the stack defines them (no authorization)."""
    # imported here so the gateway itself stays usable without the app's handlers (and their imports)
    from functions.handlers import registration

    return [
        Route("POST", "/register", registration.handler),
        Route("GET", "/register", registration.handler),
        Route("POST", "/register/complete", registration.handler),
        Route("GET", "/register/complete", registration.handler),
        Route("POST", "/register/signup", registration.handler),
        Route("GET", "/register/signup", registration.handler),
        Route("POST", "/register/tenant", registration.handler),
        Route("GET", "/register/tenant", registration.handler),
    ]
