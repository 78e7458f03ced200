"""What the local stacks share (``local.stack``'s and each Region's, ``local.region``): where the project is,
cdk.json's settings as the stack deploys them, the flush's schedule and the ``/_local/`` control routes' answers."""

from __future__ import annotations

import json
import signal
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from functions.settings import Settings
from local.marketplace.hosts import loopback_host
from stacks.config import load_config

ROOT = Path(__file__).resolve().parent.parent
RUN_FILE = ROOT / ".run" / "local.json"  # where a running local stack describes itself (operations.cli reads it)
DEFAULT_FLUSH_INTERVAL = 60.0
# the local controls take JSON only: a web page cannot send it cross-site without a CORS preflight (never granted)
JSON_HEADER = "content-type: application/json"


def deployed_settings() -> Settings:
    """cdk.json's settings, validated as synth validates them."""
    return load_config(json.loads((ROOT / "cdk.json").read_text())["context"]["marketplace"]).settings


def scheduled_event() -> dict[str, Any]:
    """The event an EventBridge schedule delivers."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/local-flush-schedule"],
        "detail": {},
    }


def every(interval: float, job: Callable[[], Any], stopped: threading.Event) -> threading.Thread:
    """Run ``job`` every ``interval`` seconds on a thread of its own until ``stopped`` is set."""

    def loop() -> None:
        while not stopped.wait(interval):
            job()

    thread = threading.Thread(target=loop, name="flush-schedule", daemon=True)
    thread.start()
    return thread


def wait_for_stop(stopped: threading.Event) -> None:
    """Wait until ``stopped`` is set, waking every half second: the kernel may hand Ctrl-C to any of the stack's
    threads, and Python runs the handler only once the main thread wakes, which a lock wait without a timeout need
    not do (a stack that did not stop within 60 s of Ctrl-C, seen once in CI, its main thread still waiting)."""
    while not stopped.wait(0.5):
        pass


def stop_on_signals(stopped: threading.Event) -> None:
    """Set ``stopped`` on Ctrl-C or SIGTERM, once: a second signal (a terminal's and a supervisor's at once) arriving
    while the first handler is inside ``Event.set`` would wait on the lock the interrupted call holds, for ever."""

    def stop(*_: Any) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        stopped.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def json_response(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=str),
    }


def refused(event: dict[str, Any]) -> dict[str, Any] | None:
    """Why a local control request is refused, if it is: a web page open in the developer's browser must not drive
    the stack. A page that rebinds its own name to loopback sends that name as ``Host``; cross-site requests carry
    their page's ``Origin``, and cannot send JSON without a CORS preflight, which the local gateway never grants."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if not loopback_host(headers.get("host")):
        return json_response(403, {"message": "requests must be addressed to a loopback host (localhost, 127.0.0.1)"})
    origin = headers.get("origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != headers.get("host", ""):
        return json_response(403, {"message": "cross-origin request refused"})
    if (headers.get("content-type") or "").split(";")[0].strip().lower() != "application/json":
        return json_response(415, {"message": "send Content-Type: application/json"})
    return None
