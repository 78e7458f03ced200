"""A local stand-in for the one SQS call the app makes (SendMessage, with DelaySeconds), so an unmodified boto3
``sqs`` client schedules a message that is handed to a consumer once its delay has passed, as the queue's
Lambda event source would.

    with LocalQueue(deliver=lambda body: ..., clock=clock) as queue:
        boto3.client("sqs", endpoint_url=queue.url).send_message(QueueUrl=queue.queue_url, MessageBody="x")

Delays are measured on the given clock, the app's movable one locally: moving it releases the messages it passes,
as the same wait would in AWS. Without ``deliver``, ``due()`` hands out what is due (tests decide when).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from functions.clock import Clock, SystemClock
from local.loopback import LoopbackServer, owner_of

# how often due messages are looked for (real time)
POLL_SECONDS = 0.1

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

    def __init__(
        self,
        deliver: Callable[[str], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(host, port)
        self._deliver = deliver
        self._clock = clock or SystemClock()
        self._waiting: list[tuple[datetime, int, str]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._poller: threading.Thread | None = None
        self.sent: list[tuple[str, int]] = []  # every (body, delay) received, in order

    @property
    def queue_url(self) -> str:
        return f"{self.url}/000000000000/{QUEUE_NAME}"

    def send(self, body: str, delay_seconds: int) -> None:
        with self._lock:
            self.sent.append((body, delay_seconds))
            due = self._clock.now() + timedelta(seconds=delay_seconds)
            heapq.heappush(self._waiting, (due, next(self._order), body))

    def due(self) -> list[str]:
        """The messages whose delay has passed on the clock, oldest first; each handed out once."""
        now = self._clock.now()
        with self._lock:
            found = []
            while self._waiting and self._waiting[0][0] <= now:
                found.append(heapq.heappop(self._waiting)[2])
            return found

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def start(self) -> Self:
        super().start()
        if self._deliver is not None:
            self._stopped.clear()
            self._poller = threading.Thread(target=self._poll, name="local-sqs-delays", daemon=True)
            self._poller.start()
        return self

    def _poll(self) -> None:
        assert self._deliver is not None
        while not self._stopped.wait(POLL_SECONDS):
            for body in self.due():
                self._deliver(body)

    def stop(self) -> None:
        self._stopped.set()
        if self._poller is not None:
            self._poller.join()
            self._poller = None
        super().stop()
