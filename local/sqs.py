"""A local stand-in for the one SQS call the app makes (SendMessage, with DelaySeconds), so an unmodified boto3
``sqs`` client schedules a message that is handed to a consumer once its delay has passed, as the queue's
Lambda event source would.

    with LocalQueue(deliver=lambda body: ...) as queue:
        boto3.client("sqs", endpoint_url=queue.url).send_message(QueueUrl=queue.queue_url, MessageBody="x")
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.loopback import LoopbackServer, owner_of

QUEUE_NAME = "lifecycle"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.headers.get("X-Amz-Target") != "AmazonSQS.SendMessage":
            self._answer(400, {"__type": "com.amazonaws.sqs#UnsupportedOperation", "message": "SendMessage only"})
            return
        body = str(request.get("MessageBody", ""))
        delay = int(request.get("DelaySeconds", 0))
        if not 0 <= delay <= 900:
            self._answer(400, {"__type": "com.amazonaws.sqs#InvalidParameterValue", "message": "DelaySeconds"})
            return
        queue: LocalQueue = owner_of(self)
        queue.send(body, delay)
        self._answer(
            200,
            {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()},  # noqa: S324
        )

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LocalQueue(LoopbackServer):
    handler_class = _Handler

    def __init__(self, deliver: Callable[[str], None], host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._deliver = deliver
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()

    @property
    def queue_url(self) -> str:
        return f"{self.url}/000000000000/{QUEUE_NAME}"

    def send(self, body: str, delay_seconds: int) -> None:
        timer = threading.Timer(delay_seconds, self._deliver, args=(body,))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def stop(self) -> None:
        super().stop()
        with self._lock:
            for timer in self._timers:
                timer.cancel()
