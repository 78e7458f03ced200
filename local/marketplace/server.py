"""The HTTP front: AWS JSON 1.1 (metering, entitlement), AWS JSON 1.0 (agreement), Smithy RPC v2 CBOR
(entitlement, agreement), admin JSON, buyer pages.

Stdlib ``ThreadingHTTPServer`` on loopback; HTTP/1.1 keep-alive so botocore's pooled connections are
reused the way they are against AWS (benchmarks depend on it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import urllib.parse
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import cbor2

from . import catalog, pages
from .admin_routes import route_admin
from .errors import AdminError, ApiError
from .hosts import loopback_host
from .notifications import Listener
from .operation import AGREEMENT, CLOUDTRAIL, ENTITLEMENT, METERING, Caller
from .service import Marketplace

log = logging.getLogger(__name__)

# "BatchMeterUsage requests must be less than 1MB in size" (API reference), on top of the 25-record cap; 1 MB
# read as 1,048,576 bytes, the stricter reading would be 1,000,000. See README "Request size".
BATCH_METER_USAGE_MAX_BYTES = 1024 * 1024
METERING_TARGET = "AWSMPMeteringService"
ENTITLEMENT_TARGET = "AWSMPEntitlementService"
AGREEMENT_TARGET = "AWSMPCommerceService_v20200301"
CLOUDTRAIL_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
SIGNING_NAME = "aws-marketplace"
# The models' signingName (endpointPrefix where there is none): every Marketplace service signs as aws-marketplace.
SIGNING_NAMES = {CLOUDTRAIL: "cloudtrail"}
# X-Amz-Target prefixes (JSON) and RPC v2 service names (CBOR) are the models' targetPrefix
JSON_TARGETS = {
    METERING_TARGET: METERING,
    ENTITLEMENT_TARGET: ENTITLEMENT,
    AGREEMENT_TARGET: AGREEMENT,
    CLOUDTRAIL_TARGET: CLOUDTRAIL,
}
CBOR_TARGETS = {ENTITLEMENT_TARGET: ENTITLEMENT, AGREEMENT_TARGET: AGREEMENT}
# the models' jsonVersion: 1.0 for the Agreement Service, 1.1 for the others
JSON_CONTENT_TYPES = {AGREEMENT: "application/x-amz-json-1.0"}
JSON_1_1 = "application/x-amz-json-1.1"
# the Smithy namespace a CBOR error's __type is qualified with
CBOR_ERROR_NAMESPACES = {
    ENTITLEMENT: "com.amazonaws.marketplaceentitlementservice",
    AGREEMENT: "com.amazonaws.marketplaceagreement",
}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
_RPC_PATH = re.compile(r"^/service/([^/]+)/operation/([^/?]+)$")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        # AWS JSON 1.0 and 1.1 timestamps are epoch seconds.
        return value.timestamp()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    marketplace: Marketplace


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate small writes; with Nagle on, the client's delayed ACK adds ~40 ms to
    # every call, which would make the emulator, not the quota, the bottleneck in throughput benchmarks.
    disable_nagle_algorithm = True
    server: _Server
    server_version = "MarketplaceEmulator/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    @property
    def marketplace(self) -> Marketplace:
        return self.server.marketplace

    # -- dispatch --------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self._send(400, b"", "text/plain")
            log.debug("bad request: %s", exc)
            return
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        if not loopback_host(self.headers.get("Host"), str(self.server.server_address[0])):
            # a page that rebound its name to this address (DNS rebinding) sends its own name: never answered
            self._send_json(403, {"error": "requests must be addressed to a loopback host (localhost, 127.0.0.1)"})
            return
        try:
            if method == "POST" and self.headers.get("X-Amz-Target"):
                self._aws_json(body)
            elif method == "POST" and _RPC_PATH.fullmatch(path):
                self._aws_cbor(path, body)
            elif path == "/admin" or path.startswith("/admin/"):
                if method == "GET" or self._trusted(json_only=True):
                    self._admin(method, path, parsed.query, body)
            elif method == "GET" and path in ("/", "/index.html"):
                self._html(200, pages.product_list(self.marketplace.products()))
            elif method == "POST" and path == "/buyer/subscribe":
                if self._trusted(json_only=False):
                    self._buyer_subscribe(body)
            else:
                self._send_json(404, {"error": f"no route for {method} {path}"})
        except Exception:
            log.exception("emulator bug while handling %s %s", method, path)
            self._send_json(500, {"__type": "InternalServiceErrorException", "message": "emulator bug (see log)"})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    # -- AWS -------------------------------------------------------------------------------------------

    def _caller(self, target_service: str | None = None) -> Caller | ApiError:
        auth = self.headers.get("Authorization") or ""
        match = _CREDENTIAL.search(auth)
        if match is None:
            return ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
        access_key, _date, region, service = match.groups()
        signing_name = SIGNING_NAMES.get(target_service or "", SIGNING_NAME)
        if service != signing_name:
            return ApiError(
                "InvalidSignatureException", f"Credential should be scoped to correct service: '{signing_name}'."
            )
        return Caller(
            access_key_id=access_key,
            region=region,
            source_ip=self.client_address[0],
            user_agent=self.headers.get("User-Agent") or "",
        )

    def _aws_json(self, body: bytes) -> None:
        target = self.headers.get("X-Amz-Target") or ""
        prefix, _, operation = target.rpartition(".")
        service = JSON_TARGETS.get(prefix)
        content_type = JSON_CONTENT_TYPES.get(service or "", JSON_1_1)
        caller = self._caller(service)
        if isinstance(caller, ApiError):
            self._aws_json_error(caller, "", content_type)
            return
        if service is None or catalog.operation(service, operation) is None:
            error = ApiError("UnknownOperationException", f"Unknown operation {target}")
            self.marketplace.log_unroutable(operation or target, caller, error)
            self._aws_json_error(error, "", content_type)
            return
        if operation == "BatchMeterUsage" and len(body) >= BATCH_METER_USAGE_MAX_BYTES:
            # Refused in front of the service, like other oversized requests: no quota taken, nothing parsed.
            error = ApiError(
                "RequestEntityTooLargeException",
                f"Request of {len(body)} bytes is too large: BatchMeterUsage requests must be less than "
                f"{BATCH_METER_USAGE_MAX_BYTES} bytes",
            )
            self.marketplace.log_unroutable(operation, caller, error)
            self._aws_json_error(error, "", content_type)
            return
        params: dict[str, Any] | None = None
        parse_error = None
        try:
            loaded = json.loads(body or b"{}")
            params = loaded if isinstance(loaded, dict) else None
            parse_error = None if params is not None else "Request body must be a JSON object"
        except ValueError:
            parse_error = "Request body is not valid JSON"
        outcome = self.marketplace.handle_aws(service, operation, params, caller, parse_error)
        if outcome.lose_response:
            self._drop_connection()
        elif outcome.error is not None:
            self._aws_json_error(outcome.error, outcome.request_id, content_type)
        else:
            data = json.dumps(outcome.body, default=_json_default).encode()
            self._send(200, data, content_type, {"x-amzn-RequestId": outcome.request_id})

    def _aws_json_error(self, error: ApiError, request_id: str, content_type: str = JSON_1_1) -> None:
        data = json.dumps({**error.fields, "__type": error.code, "message": error.message}).encode()
        headers = {"x-amzn-RequestId": request_id} if request_id else {}
        self._send(error.status, data, content_type, headers)

    def _aws_cbor(self, path: str, body: bytes) -> None:
        match = _RPC_PATH.fullmatch(path)
        assert match is not None
        target, operation = match.groups()
        service = CBOR_TARGETS.get(target)
        namespace = CBOR_ERROR_NAMESPACES[service or ENTITLEMENT]
        caller = self._caller()
        if isinstance(caller, ApiError):
            self._aws_cbor_error(caller, "", namespace)
            return
        if service is None or catalog.operation(service, operation) is None:
            error = ApiError("UnknownOperationException", f"Unknown operation {target}.{operation}")
            self.marketplace.log_unroutable(operation, caller, error)
            self._aws_cbor_error(error, "", namespace)
            return
        params: dict[str, Any] | None = None
        parse_error = None
        if (self.headers.get("smithy-protocol") or "") != "rpc-v2-cbor":
            parse_error = "Missing or unsupported smithy-protocol header (expected rpc-v2-cbor)"
        else:
            try:
                loaded = cbor2.loads(body) if body else {}
                params = loaded if isinstance(loaded, dict) else None
                parse_error = None if params is not None else "Request body must be a CBOR map"
            except Exception:  # cbor2 raises several decoder error types
                parse_error = "Request body is not valid CBOR"
        outcome = self.marketplace.handle_aws(service, operation, params, caller, parse_error)
        if outcome.lose_response:
            self._drop_connection()
        elif outcome.error is not None:
            self._aws_cbor_error(outcome.error, outcome.request_id, namespace)
        else:
            data = cbor2.dumps(outcome.body, datetime_as_timestamp=True)
            headers = {"smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": outcome.request_id}
            self._send(200, data, "application/cbor", headers)

    def _aws_cbor_error(self, error: ApiError, request_id: str, namespace: str) -> None:
        data = cbor2.dumps({**error.fields, "__type": f"{namespace}#{error.code}", "message": error.message})
        headers = {"smithy-protocol": "rpc-v2-cbor"}
        if request_id:
            headers["x-amzn-RequestId"] = request_id
        self._send(error.status, data, "application/cbor", headers)

    def _drop_connection(self) -> None:
        """The call was applied; now vanish without a response, as a lost reply over the network looks."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- admin and pages -------------------------------------------------------------------------------

    def _trusted(self, *, json_only: bool) -> bool:
        """Whether a request that changes the world may: a web page open in the developer's browser must not drive
        the emulator. Cross-site requests carry their page's ``Origin``; and they cannot send a JSON body without a
        CORS preflight, which the emulator never grants. Answers the refusal itself."""
        origin = self.headers.get("Origin")
        if origin is not None and urllib.parse.urlsplit(origin).netloc != (self.headers.get("Host") or ""):
            self._send_json(403, {"error": f"cross-origin request from {origin!r} refused"})
            return False
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if json_only and content_type != "application/json":
            self._send_json(415, {"error": "send Content-Type: application/json"})
            return False
        return True

    def _admin(self, method: str, path: str, query: str, body: bytes) -> None:
        try:
            payload: Any = json.loads(body) if body else {}
        except ValueError:
            self._send_json(400, {"error": "body must be JSON"})
            return
        if not isinstance(payload, dict):
            self._send_json(400, {"error": "body must be a JSON object"})
            return
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        try:
            status, result = route_admin(self.marketplace, method, path, params, payload)
        except AdminError as exc:
            self._send_json(exc.status, {"error": str(exc)})
            return
        self._send_json(status, result)

    def _buyer_subscribe(self, body: bytes) -> None:
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        auto_confirm = bool(self.marketplace.world.config.get("buyer_page_auto_confirm", True))
        try:
            subscription = self.marketplace.subscribe(
                {
                    "product_code": form.get("product_code", ""),
                    "account_id": form.get("account_id", "").strip(),
                    "free_trial": form.get("free_trial") == "true",
                    "confirm": auto_confirm,
                }
            )
        except AdminError as exc:
            self._html(exc.status, pages.error_page(str(exc)))
            return
        product = {p["code"]: p for p in self.marketplace.products()}[subscription["product_code"]]
        self._html(200, pages.setup_account(subscription, product))

    # -- output ----------------------------------------------------------------------------------------

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, default=_json_default).encode(), "application/json")

    def _html(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8")


class EmulatorServer:
    """In-process emulator: ``EmulatorServer(port=0).start()``, then ``server.url``; ``stop()`` or ``with``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: str | Path | None = None,
        marketplace: Marketplace | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.marketplace = marketplace or Marketplace(state_file)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self._httpd.server_address[1]}"

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, self.port), _Handler)
        httpd.marketplace = self.marketplace
        self._httpd = httpd
        self.marketplace.hub.start()
        self._thread = threading.Thread(target=httpd.serve_forever, name="marketplace-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.marketplace.hub.stop()
        self.marketplace.close()
        self._httpd = None
        self._thread = None

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(notification)`` for every lifecycle notification, after the change is applied."""
        self.marketplace.hub.add_listener(listener)

    def remove_listener(self, listener: Listener) -> None:
        self.marketplace.hub.remove_listener(listener)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
