"""What AWS calls the app really makes, recorded through botocore's public event hooks on boto3's default session
(no patching): each call as the IAM action it needs and the resource its parameters name, attributed to the handler
the test says is running.

    with recording() as recorder:            # a fresh default session carrying the hooks; app clients rebuilt
        with recorder.invoking("usage"):
            usage.handler(event, context)
    recorder.calls_of("usage")

A client copies its session's event hooks when it is created, so the app's cached clients (functions.wiring) are
dropped on the way in and on the way out: inside, they are built anew from the recording session; afterwards, from
the session that was the default before. Calls made outside ``invoking`` (a test's own setup through the same
clients) are not recorded.

Attribution is one process-wide "handler running" rather than a context variable: the app's worker threads (the
usage store's writers, the flush's senders) do not inherit context variables, and their calls are the handler's too.
Handlers are invoked one at a time, so the attribution is unambiguous.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import boto3

import functions.wiring
from functions.settings import get_settings
from local.loopback import LoopbackServer, owner_of

# botocore's service name -> the IAM service prefix of its actions. The three Marketplace APIs have their own
# endpoints (metering.marketplace, entitlement.marketplace, agreement-marketplace) but one IAM prefix.
IAM_PREFIX = {
    "dynamodb": "dynamodb",
    "meteringmarketplace": "aws-marketplace",
    "marketplace-entitlement": "aws-marketplace",
    "marketplace-agreement": "aws-marketplace",
    "events": "events",
    "sqs": "sqs",
    "secretsmanager": "secretsmanager",
    "lambda": "lambda",
    "cloudtrail": "cloudtrail",
}
# operations whose IAM action is not named after them
IAM_ACTION_NAME = {("lambda", "Invoke"): "InvokeFunction"}
# TransactWriteItems / TransactGetItems are authorized per item, by the item's own action
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_PARAMS_KEY = "tests.aws_calls.params"
# BatchExecuteStatement / ExecuteStatement are authorized per statement, by its PartiQL action on the table it names
_PARTIQL_ACTIONS = {
    "INSERT": "PartiQLInsert",
    "UPDATE": "PartiQLUpdate",
    "DELETE": "PartiQLDelete",
    "SELECT": "PartiQLSelect",
}
_PARTIQL_TABLE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM|SELECT\s.*?\sFROM)\s+"([^"]+)"', re.I | re.S)


@dataclass(frozen=True)
class Need:
    """One permission a call needs: ``action`` on the resource named ``resource`` (a table name, queue URL, function
    name, bus name, secret id, as the call's parameters give it; ``index`` for a query of a secondary index), or on
    no particular resource (``None``: the action takes only "*")."""

    action: str
    resource: str | None = None
    index: str | None = None


@dataclass(frozen=True)
class AwsCall:
    handler: str
    service: str  # botocore's service name (its client name)
    signing_name: str
    endpoint_prefix: str
    operation: str
    needs: tuple[Need, ...]

    def __str__(self) -> str:
        return f"{self.service}.{self.operation} ({self.endpoint_prefix})"


def iam_action(service: str, operation: str) -> str:
    prefix = IAM_PREFIX.get(service, f"<no IAM prefix known for botocore service {service!r}>")
    return f"{prefix}:{IAM_ACTION_NAME.get((service, operation), operation)}"


def _partiql_need(statement: dict[str, Any]) -> Need:
    found = _PARTIQL_TABLE.match(statement["Statement"])
    if found is None:
        raise AssertionError(f"a PartiQL statement naming no table the recorder can read: {statement['Statement']!r}")
    verb = found.group(1).split()[0].upper()
    return Need(f"{IAM_PREFIX['dynamodb']}:{_PARTIQL_ACTIONS[verb]}", found.group(2))


def needs_of(service: str, operation: str, params: dict[str, Any]) -> tuple[Need, ...]:
    """The permissions a call with these (API) parameters needs."""
    action = iam_action(service, operation)
    if service == "dynamodb":
        if "RequestItems" in params:  # BatchGetItem, BatchWriteItem: the action on every table named
            return tuple(Need(action, table) for table in params["RequestItems"])
        if "TransactItems" in params:
            prefix = IAM_PREFIX["dynamodb"]
            return tuple(
                Need(f"{prefix}:{_TRANSACT_ACTIONS[kind]}", body["TableName"])
                for item in params["TransactItems"]
                for kind, body in item.items()
            )
        if "Statements" in params or "Statement" in params:
            return tuple(dict.fromkeys(map(_partiql_need, params.get("Statements") or [params])))
        if "TableName" in params:
            return (Need(action, params["TableName"], params.get("IndexName")),)
        return (Need(action),)
    if service == "sqs" and "QueueUrl" in params:
        return (Need(action, params["QueueUrl"]),)
    if service == "lambda" and "FunctionName" in params:
        return (Need(action, params["FunctionName"]),)
    if service == "events" and "Entries" in params:
        return tuple(dict.fromkeys(Need(action, e.get("EventBusName") or "default") for e in params["Entries"]))
    if service == "secretsmanager" and "SecretId" in params:
        return (Need(action, params["SecretId"]),)
    return (Need(action),)


class CallRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[AwsCall] = []
        self._handler: str | None = None
        self._active = True

    @contextmanager
    def invoking(self, handler: str) -> Iterator[None]:
        """Attribute every call made until the block ends to ``handler``."""
        with self._lock:
            assert self._handler is None, f"{handler} invoked while {self._handler} is still running"
            self._handler = handler
        try:
            yield
        finally:
            with self._lock:
                self._handler = None

    def calls_of(self, handler: str) -> list[AwsCall]:
        with self._lock:
            return [c for c in self._calls if c.handler == handler]

    @property
    def calls(self) -> list[AwsCall]:
        with self._lock:
            return list(self._calls)

    def stop(self) -> None:
        """Clients built while recording keep the hooks: from now on they record nothing."""
        with self._lock:
            self._active = False

    # botocore hooks: keep the call's API parameters (before-parameter-build), record it when it is about to be
    # sent (before-call, once per API call whatever the retries); both are handed the same per-call context
    def keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS_KEY] = params

    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            if not self._active or self._handler is None:
                return
            service = model.service_model
            params = context.get(_PARAMS_KEY, {})
            self._calls.append(
                AwsCall(
                    handler=self._handler,
                    service=service.service_name,
                    signing_name=service.signing_name,
                    endpoint_prefix=service.endpoint_prefix,
                    operation=model.name,
                    needs=needs_of(service.service_name, model.name, params),
                )
            )


def rebuild_app_clients() -> None:
    """Drop every client, adapter and setting the app has cached: the next invocation builds them anew."""
    get_settings.cache_clear()
    for module_info in pkgutil.iter_modules(functions.wiring.__path__, f"{functions.wiring.__name__}."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if hasattr(value, "cache_info") and callable(getattr(value, "cache_clear", None)):  # functools.cache
                value.cache_clear()


@contextmanager
def recording() -> Iterator[CallRecorder]:
    """A recording default session for the app's clients; the previous default session afterwards."""
    previous = boto3.DEFAULT_SESSION
    recorder = CallRecorder()
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-parameter-build", recorder.keep_params)
    session.events.register("before-call", recorder.before_call)
    rebuild_app_clients()
    try:
        yield recorder
    finally:
        recorder.stop()
        session.events.unregister("before-parameter-build", recorder.keep_params)
        session.events.unregister("before-call", recorder.before_call)
        boto3.DEFAULT_SESSION = previous
        rebuild_app_clients()


class _EventsHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.headers.get("X-Amz-Target") != "AWSEvents.PutEvents":
            self._answer(400, {"__type": "UnsupportedOperation", "message": "PutEvents only"})
            return
        bus: LocalEventBus = owner_of(self)
        entries = list(request.get("Entries", []))
        with bus.lock:
            bus.entries.extend(entries)
        self._answer(200, {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in entries]})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LocalEventBus(LoopbackServer):
    """A stand-in for EventBridge's PutEvents, so the seller events go through the app's real publisher. The app's
    events client takes no endpoint setting: point it here with ``AWS_ENDPOINT_URL_EVENTBRIDGE`` (botocore's own
    per-service endpoint variable)."""

    handler_class = _EventsHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []

    def detail_types(self) -> list[str]:
        with self.lock:
            return [str(e.get("DetailType")) for e in self.entries]
