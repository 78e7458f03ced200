"""A local stand-in for the Lambda Invoke API, so an unmodified boto3 ``lambda`` client (a function continuing
itself, say) reaches an in-process handler instead of AWS.

    with LocalLambda({"flush": flush.handler}) as service:
        boto3.client("lambda", endpoint_url=service.url).invoke(FunctionName="flush", InvocationType="Event")

``Event`` invocations run on a background thread and answer 202, as Lambda does; ``RequestResponse`` runs
inline and answers the handler's result. Invocations of one function run one at a time (reserved concurrency 1).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.apigateway import LambdaContext
from local.loopback import LoopbackServer, owner_of

log = logging.getLogger(__name__)
Handler = Callable[[Any, Any], Any]
# told of each invocation as Lambda's metrics are: the function's name, whether it raised, how long it ran (ms)
InvocationObserver = Callable[[str, bool, float], None]
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def _function_name(name: str) -> str:
    """Lambda's FunctionName as any of its forms: a name, a name with a qualifier, a function ARN (qualified or not)."""
    if ":function:" in name:
        name = name.partition(":function:")[2]
    return name.partition(":")[0]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the handlers log for themselves."""

    def do_POST(self) -> None:
        found = _INVOKE.fullmatch(self.path.split("?")[0])
        name = _function_name(urllib.parse.unquote(found["name"])) if found else ""
        service: LocalLambda = owner_of(self)
        function = service.functions.get(name)
        if function is None:
            self._answer(404, {"Type": "User", "message": f"Function not found: {name}"}, "ResourceNotFoundException")
            return
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        if self.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event":
            service.run_async(name, payload)
            self._answer(202, None)
            return
        self._answer(200, service.run(name, payload))

    def _answer(self, status: int, body: Any, error_type: str | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)


class LocalLambda(LoopbackServer):
    handler_class = _Handler

    def __init__(self, functions: dict[str, Handler], host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.functions = functions
        self._locks = {name: threading.Lock() for name in functions}
        self._threads: list[threading.Thread] = []
        self.observer: InvocationObserver | None = None

    def run(self, name: str, payload: Any, timeout_seconds: float = 900.0) -> Any:
        with self._locks[name]:
            started = time.monotonic()
            failed = True
            try:
                answer = self.functions[name](
                    payload, LambdaContext(function_name=name, timeout_seconds=timeout_seconds)
                )
                failed = False
                return answer
            finally:
                if self.observer is not None:
                    self._observe(name, failed, (time.monotonic() - started) * 1000)

    def _observe(self, name: str, failed: bool, duration_ms: float) -> None:
        """Lambda's metrics are published beside the invocation: failing to, it neither fails nor changes it."""
        assert self.observer is not None
        try:
            self.observer(name, failed, duration_ms)
        except Exception:  # the metrics' endpoint gone (a stack stopping), or refusing: say so and go on
            log.warning("the invocation metrics of %s were not published", name, exc_info=True)

    def run_async(self, name: str, payload: Any) -> None:
        thread = threading.Thread(target=self.run, args=(name, payload), name=f"lambda-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        super().stop()
        for thread in self._threads:
            thread.join()
