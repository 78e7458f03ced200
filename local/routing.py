"""The lifecycle notifications' routing on a real engine: moto in server mode (EventBridge, SNS, SQS), given the rules,
queues and subscriptions of the template we synthesize, so what `make run` delivers is what the deployed rule lets
through.

    with MotoServer() as moto:
        routing = Routing(moto.url, routing_plan(synthesized_templates())).provision()
        routing.publish_event(event)  # PutEvents on the default bus: our rule decides whether the queue gets it

From the templates: every ``AWS::SQS::Queue`` (visibility timeout, redrive policy to its dead-letter queue), every
``AWS::Events::Rule`` with an event pattern and SQS targets (its pattern as synthesized), every
``AWS::SNS::Subscription`` of a queue, and every ``AWS::Lambda::EventSourceMapping`` of a queue (``local.event_source``
polls it). Synthesizing takes seconds, so the templates are kept under build/ keyed by the sources they come from.

Two local differences, both forced by the engine, neither by our code: moto delivers an SNS message to SQS only within
one account, so Marketplace's legacy topics are made under their own names in the seller's account (the emulator
publishes to those); and moto's clock is the stack's movable one (``moto_as_aws``), so moving it releases delayed
messages and visibility timeouts as the same wait would in AWS. ``moto_as_aws`` also corrects two moto 5.2.5 slips:
its rule targets got events without their ``account``, and TestEventPattern answered nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import boto3
import moto.core.utils
from moto.events.models import EventPattern
from moto.events.responses import EventsHandler
from moto.events.utils import EventTemplateParser
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from functions.clock import Clock

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "local-routing"
REGION = "us-east-1"  # where Marketplace sends its events and hosts its topics
# the account moto gives any caller it has no IAM user for; the emulator's seller account is the same
ACCOUNT = "123456789012"
# what the synthesized templates are made of: a change to any of these synthesizes again
SOURCES = ("app.py", "cdk.json", "stacks", "functions")


# -- the plan: what the templates say --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSpec:
    name: str  # the logical id (CloudFormation would generate a name from it)
    visibility_timeout: int = 30
    dead_letters: str | None = None  # the logical id of its dead-letter queue
    max_receive_count: int = 0


@dataclass(frozen=True)
class RuleSpec:
    name: str
    pattern: dict[str, Any]
    queues: tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSpec:
    """A scheduled rule (the flush's): made on the engine so its state can be read and changed as on AWS; the local
    stack's scheduler runs the function only while it is enabled."""

    name: str
    expression: str
    enabled: bool = True
    handler: str | None = None  # the Handler of the function it invokes


@dataclass(frozen=True)
class SubscriptionSpec:
    topic_arn: str
    queue: str
    raw: bool = False


@dataclass(frozen=True)
class EventSourceSpec:
    queue: str
    handler: str  # the function's Handler, e.g. functions.handlers.lifecycle.handler
    batch_size: int = 10
    reports_item_failures: bool = False


@dataclass(frozen=True)
class RoutingPlan:
    queues: tuple[QueueSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    subscriptions: tuple[SubscriptionSpec, ...] = ()
    sources: tuple[EventSourceSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()


def _queue_of(value: Any, resources: dict[str, Any]) -> str | None:
    """The logical id of the queue an ARN expression (``Fn::GetAtt [Queue, Arn]``) names, if it names one."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and resources.get(logical, {}).get("Type") == "AWS::SQS::Queue":
            return str(logical)
    return None


def _handler_of(value: Any, resources: dict[str, Any]) -> str | None:
    """The Handler of the function a FunctionName or target expression names (directly, or through an alias)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return _handler_of({"Ref": value["Fn::GetAtt"][0]}, resources)
    if isinstance(value, dict) and "Ref" in value:
        resource = resources.get(value["Ref"], {})
        if resource.get("Type") == "AWS::Lambda::Alias":
            return _handler_of(resource["Properties"]["FunctionName"], resources)
        if resource.get("Type") == "AWS::Lambda::Function":
            return str(resource["Properties"]["Handler"])
    return None


def routing_plan(templates: Iterable[dict[str, Any]]) -> RoutingPlan:
    queues: list[QueueSpec] = []
    rules: list[RuleSpec] = []
    subscriptions: list[SubscriptionSpec] = []
    sources: list[EventSourceSpec] = []
    schedules: list[ScheduleSpec] = []
    for template in templates:
        resources: dict[str, Any] = template.get("Resources", {})
        for logical, resource in resources.items():
            properties = resource.get("Properties", {})
            kind = resource.get("Type")
            if kind == "AWS::SQS::Queue":
                redrive = properties.get("RedrivePolicy") or {}
                queues.append(
                    QueueSpec(
                        logical,
                        int(properties.get("VisibilityTimeout", 30)),
                        _queue_of(redrive.get("deadLetterTargetArn"), resources),
                        int(redrive.get("maxReceiveCount", 0)),
                    )
                )
            elif kind == "AWS::Events::Rule" and "EventPattern" in properties:
                targets = tuple(q for t in properties.get("Targets", []) if (q := _queue_of(t["Arn"], resources)))
                if targets:
                    enabled = properties.get("State", "ENABLED") == "ENABLED"
                    rules.append(RuleSpec(logical, properties["EventPattern"], targets, enabled))
            elif kind == "AWS::Events::Rule" and "ScheduleExpression" in properties:
                enabled = properties.get("State", "ENABLED") == "ENABLED"
                handlers = [h for t in properties.get("Targets", []) if (h := _handler_of(t["Arn"], resources))]
                handler = handlers[0] if handlers else None
                schedules.append(ScheduleSpec(logical, properties["ScheduleExpression"], enabled, handler))
            elif kind == "AWS::SNS::Subscription" and properties.get("Protocol") == "sqs":
                queue = _queue_of(properties["Endpoint"], resources)
                if queue is not None:
                    raw = bool(properties.get("RawMessageDelivery", False))
                    subscriptions.append(SubscriptionSpec(str(properties["TopicArn"]), queue, raw))
            elif kind == "AWS::Lambda::EventSourceMapping":
                queue = _queue_of(properties.get("EventSourceArn"), resources)
                handler = _handler_of(properties.get("FunctionName"), resources)
                if queue is not None and handler is not None:
                    failures = "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", [])
                    sources.append(EventSourceSpec(queue, handler, int(properties.get("BatchSize", 10)), failures))
    return RoutingPlan(tuple(queues), tuple(rules), tuple(subscriptions), tuple(sources), tuple(schedules))


# -- the templates: synthesized once per version of their sources ----------------------------------------------------


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = ROOT / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def synthesize(context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every stack's template, as `make synth` writes them (cdk.json's context unless given)."""
    import aws_cdk as cdk

    from app import build_app

    context = context or json.loads((ROOT / "cdk.json").read_text())["context"]
    with tempfile.TemporaryDirectory(prefix="local-routing-") as outdir:
        app = cdk.App(context=context, outdir=outdir)
        build_app(app)
        return [dict(stack.template) for stack in app.synth().stacks]


class SynthFailed(RuntimeError):
    """The app did not synthesize (its message says why: the layer not built, cdk.json invalid...)."""


def synthesized_apart() -> list[dict[str, Any]]:
    """Every stack's template, synthesized by ``python app.py`` in a process of its own: the local stack itself then
    runs no CDK, nor the Node.js process its jsii runtime keeps."""
    with tempfile.TemporaryDirectory(prefix="local-routing-") as outdir:
        done = subprocess.run(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env={**os.environ, "CDK_OUTDIR": outdir},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SynthFailed(done.stderr.strip() or f"python app.py exited {done.returncode}")
        return [json.loads(path.read_text()) for path in sorted(Path(outdir).glob("*.template.json"))]


def synthesized_templates(cache: Path = CACHE) -> list[dict[str, Any]]:
    """This checkout's templates: from the cache when its sources are unchanged, else synthesized (and kept)."""
    kept = cache / f"templates-{_sources_digest()}.json"
    if kept.exists():
        templates: list[dict[str, Any]] = json.loads(kept.read_text())
        return templates
    templates = synthesized_apart()
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob("templates-*.json"):
        old.unlink()
    partial = kept.with_suffix(".partial")
    partial.write_text(json.dumps(templates))
    partial.replace(kept)  # whole or not at all, should two stacks start at once
    return templates


# -- the engine --------------------------------------------------------------------------------------------------------


class MotoServer:
    """moto's server on a free loopback port, in this process (``start``/``stop``, or ``with``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.url = ""

    def start(self) -> Self:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request (the poller's, 10 a second)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


# An event as EventBridge delivers it to a target without an input transformer: every top-level field of the event
# (EventBridge user guide, "Amazon EventBridge events"). moto 5.2.5's default leaves out ``account``.
WHOLE_EVENT = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", "account": "<account>", '
    '"time": <time>, "region": "<region>", "resources": <resources>, "detail": <detail>}'
)


def _test_event_pattern(handler: EventsHandler) -> tuple[str, dict[str, Any]]:
    """TestEventPattern, which moto 5.2.5 answers with nothing: its own pattern engine's verdict, as AWS answers it
    (``{"Result": bool}``)."""
    pattern = EventPattern.load(handler._get_param("EventPattern"))
    event = json.loads(handler._get_param("Event"))
    return json.dumps({"Result": pattern.matches_event(event)}), handler.response_headers


@contextmanager
def moto_as_aws(clock: Clock) -> Iterator[None]:
    """Until exit, moto's clock (message timestamps, delays, visibility timeouts: every time reading it makes goes
    through ``moto.core.utils.utcnow``, naive UTC) is ``clock``, its EventBridge targets get whole events, and its
    EventBridge answers TestEventPattern."""
    original = moto.core.utils.utcnow, EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    unanswered = EventsHandler.test_event_pattern
    moto.core.utils.utcnow = lambda: clock.now().astimezone(UTC).replace(tzinfo=None)
    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = WHOLE_EVENT
    setattr(EventsHandler, "test_event_pattern", _test_event_pattern)  # noqa: B010 (a method, as mypy sees it)
    try:
        yield
    finally:
        moto.core.utils.utcnow, EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = original
        setattr(EventsHandler, "test_event_pattern", unanswered)  # noqa: B010


def client(service: str, endpoint: str) -> Any:
    """A boto3 client of the engine, as the seller's account (moto knows no credentials: any will do)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="AKIALOCALROUTING",
        aws_secret_access_key="local-only",  # noqa: S106 (moto checks none)
    )


@dataclass
class Routing:
    """The plan's resources on the engine at ``endpoint``, and the emulator's way in: PutEvents and Publish."""

    endpoint: str
    plan: RoutingPlan
    queue_urls: dict[str, str] = field(default_factory=dict)
    topic_arns: dict[str, str] = field(default_factory=dict)  # Marketplace's topic ARN: its local one
    # made once (the emulator publishes from its request threads; clients are thread-safe, their creation is not)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._clients.update({name: client(name, self.endpoint) for name in ("sqs", "events", "sns")})

    def provision(self) -> Self:
        sqs, events, sns = (self._clients[name] for name in ("sqs", "events", "sns"))
        # dead-letter queues first: a redrive policy names one that exists
        for spec in sorted(self.plan.queues, key=lambda q: q.dead_letters is not None):
            attributes = {"VisibilityTimeout": str(spec.visibility_timeout)}
            if spec.dead_letters is not None:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": self.queue_arn(spec.dead_letters),
                        "maxReceiveCount": spec.max_receive_count,
                    }
                )
            self.queue_urls[spec.name] = sqs.create_queue(QueueName=spec.name, Attributes=attributes)["QueueUrl"]
        for rule in self.plan.rules:
            state = "ENABLED" if rule.enabled else "DISABLED"
            events.put_rule(Name=rule.name, EventPattern=json.dumps(rule.pattern), State=state)
            targets = [{"Id": f"Target{i}", "Arn": self.queue_arn(q)} for i, q in enumerate(rule.queues)]
            events.put_targets(Rule=rule.name, Targets=targets)
        for schedule in self.plan.schedules:
            state = "ENABLED" if schedule.enabled else "DISABLED"
            events.put_rule(Name=schedule.name, ScheduleExpression=schedule.expression, State=state)
        for subscription in self.plan.subscriptions:
            name = subscription.topic_arn.rsplit(":", 1)[-1]
            if subscription.topic_arn not in self.topic_arns:
                self.topic_arns[subscription.topic_arn] = sns.create_topic(Name=name)["TopicArn"]
            local = self.topic_arns[subscription.topic_arn]
            sns.subscribe(
                TopicArn=local,
                Protocol="sqs",
                Endpoint=self.queue_arn(subscription.queue),
                Attributes={"RawMessageDelivery": str(subscription.raw).lower()},
            )
        return self

    def schedule_of(self, handler: str) -> ScheduleSpec | None:
        """The first scheduled rule that invokes ``handler``, as the template orders them (the flush's hourly schedule
        before its month-end one and, in another Region, before its final-usage requests)."""
        return next((s for s in self.plan.schedules if s.handler == handler), None)

    def rule_enabled(self, name: str) -> bool:
        """Whether the rule ``name`` is enabled now (an operator may have disabled it, as on AWS)."""
        return bool(self._clients["events"].describe_rule(Name=name)["State"] == "ENABLED")

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    def source_queue(self, handler: str) -> tuple[EventSourceSpec, str]:
        """The event source mapping that invokes ``handler``, and its queue's URL."""
        found = [s for s in self.plan.sources if s.handler == handler]
        if len(found) != 1:
            raise LookupError(f"{len(found)} SQS event sources invoke {handler} in the synthesized template")
        return found[0], self.queue_urls[found[0].queue]

    def publish_event(self, event: dict[str, Any]) -> None:
        """An event as Marketplace puts it on the seller's default bus in us-east-1."""
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event.get("resources", []),
            "Time": datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
        }
        answer = self._clients["events"].put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents refused {event['detail-type']}: {answer['Entries']}")

    def publish_sns(self, topic_arn: str, message: str) -> bool:
        """A legacy message to one of Marketplace's topics; False where no stack subscribes to it (as in AWS, it then
        reaches nobody)."""
        local = self.topic_arns.get(topic_arn)
        if local is None:
            return False
        self._clients["sns"].publish(TopicArn=local, Message=message)
        return True

    def emulator_listener(self) -> Callable[[dict[str, Any]], None]:
        """What the emulator calls with each notification: its events to EventBridge, its messages to SNS."""

        def deliver(notification: dict[str, Any]) -> None:
            body = notification["body"]
            if notification["channel"] == "sns":
                self.publish_sns(notification["topic"], body["Message"])
            else:
                self.publish_event(body)

        return deliver
