"""The lifecycle notifications' local routing (local/routing.py, local/event_source.py) on moto's EventBridge, SNS and
SQS, driven by the template we synthesize: AWS's published examples reach the lifecycle queue whole, or not at all,
as our rules decide; the queue's batches reach a function as Lambda's SQS event source hands them over (partial
failures kept and retried after the visibility timeout, then moved to the dead-letter queue); delays and visibility
timeouts pass on the stack's movable clock; drain() waits for exactly what was routed."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.clock import FileOffsetClock
from functions.lifecycle.notifications import parse_notification
from local.event_source import SqsEventSource
from local.routing import (
    MotoServer,
    QueueSpec,
    Routing,
    RoutingPlan,
    SubscriptionSpec,
    client,
    moto_as_aws,
    routing_plan,
    synthesize,
    synthesized_apart,
    synthesized_templates,
)
from stacks.constructs.flush import HANDLER as FLUSH_HANDLER
from stacks.constructs.lifecycle import HANDLER, TIMEOUT_SECONDS
from tests.aws_corpus import AGREEMENT_EXAMPLES, LICENCE_EXAMPLES, Parties, eventbridge_example, sns_message, sns_topic

OUR_PRODUCT = "demo-saas-product"  # cdk.json's
SELLER = "123456789012"


@pytest.fixture(scope="module")
def engine() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def synthesized() -> RoutingPlan:
    return routing_plan(synthesized_templates())


def test_the_templates_synthesized_apart_are_the_apps_own(synthesized: RoutingPlan) -> None:
    # make run synthesizes in `python app.py` (no CDK in its own process) when its cache is stale: the same plan
    assert routing_plan(synthesized_apart()) == synthesized == routing_plan(synthesize())


class Clock:
    """The stack's movable clock (a file of offset seconds), which moto follows here."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("0")

    def advance(self, seconds: float) -> None:
        self.path.write_text(str(float(self.path.read_text()) + seconds))


@pytest.fixture
def clock(engine: MotoServer, tmp_path: Path) -> Iterator[Clock]:
    # every test starts from an empty engine
    urllib.request.urlopen(urllib.request.Request(f"{engine.url}/moto-api/reset", method="POST"), timeout=10).close()
    moved = Clock(tmp_path / "clock-offset-seconds")
    with moto_as_aws(FileOffsetClock(str(moved.path))):
        yield moved


class Function:
    """A function behind the event source: records each event; reports the messages whose body ``failing`` names."""

    def __init__(self, failing: tuple[str, ...] = (), error: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.failing = failing
        self.error = error

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if self.error:
            raise RuntimeError("the function failed")
        failed = [r["messageId"] for r in event["Records"] if r["body"] in self.failing]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    @property
    def bodies(self) -> list[str]:
        return [r["body"] for e in self.events for r in e["Records"]]


def lifecycle_source(routing: Routing, function: Function) -> SqsEventSource:
    spec, url = routing.source_queue(HANDLER)
    return SqsEventSource(
        client("sqs", routing.endpoint),
        url,
        routing.queue_arn(spec.queue),
        function,
        batch_size=spec.batch_size,
        reports_item_failures=spec.reports_item_failures,
    )


def poll_all(source: SqsEventSource) -> int:
    received = 0
    while found := source.poll_once():
        received += found
    return received


def test_the_synthesized_queue_rules_and_event_source_are_made_on_the_engine(
    engine: MotoServer, clock: Clock, synthesized: RoutingPlan
) -> None:
    routing = Routing(engine.url, synthesized).provision()
    spec, url = routing.source_queue(HANDLER)
    # the lifecycle function's event source: batches of 10, partial failures reported
    assert (spec.batch_size, spec.reports_item_failures) == (10, True)
    sqs, events = client("sqs", engine.url), client("events", engine.url)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == str(6 * TIMEOUT_SECONDS)
    redrive = json.loads(attributes["RedrivePolicy"])
    [dead_letters] = [q for q in synthesized.queues if q.name != spec.queue]
    assert redrive == {"deadLetterTargetArn": routing.queue_arn(dead_letters.name), "maxReceiveCount": 5}
    # every rule on the default bus sends to that queue, with its pattern as synthesized; and the flush's schedule,
    # enabled, with no target here (the local stack's scheduler runs the flush while the rule is enabled)
    rules = {r["Name"]: r for r in events.list_rules()["Rules"]}
    assert set(rules) == {r.name for r in synthesized.rules} | {s.name for s in synthesized.schedules}
    assert len(synthesized.rules) == 2  # agreement events, licence events
    # the hourly schedule, and the month-end one (runs before Marketplace's cutoff on the 1st)
    schedule, month_end = synthesized.schedules
    assert (month_end.handler, month_end.expression, month_end.enabled) == (
        FLUSH_HANDLER,
        "cron(0/10 0-5 1 * ? *)",
        True,
    )
    assert (schedule.handler, schedule.expression, schedule.enabled) == (FLUSH_HANDLER, "rate(1 hour)", True)
    assert (rules[schedule.name]["ScheduleExpression"], rules[schedule.name]["State"]) == ("rate(1 hour)", "ENABLED")
    assert routing.rule_enabled(schedule.name)
    events.disable_rule(Name=schedule.name)
    assert not routing.rule_enabled(schedule.name)
    for rule in synthesized.rules:
        assert json.loads(rules[rule.name]["EventPattern"]) == rule.pattern
        targets = events.list_targets_by_rule(Rule=rule.name)["Targets"]
        assert [t["Arn"] for t in targets] == [routing.queue_arn(spec.queue)]


def but_id(event: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in event.items() if k != "id"}, sort_keys=True)


def test_aws_examples_reach_the_lifecycle_queue_whole_as_our_rules_decide(
    engine: MotoServer, clock: Clock, synthesized: RoutingPlan
) -> None:
    routing = Routing(engine.url, synthesized).provision()
    function = Function()
    source = lifecycle_source(routing, function)
    routed = [
        eventbridge_example(name, Parties(seller_account=SELLER, product_code=OUR_PRODUCT))
        for name in (*AGREEMENT_EXAMPLES, *LICENCE_EXAMPLES)
    ]
    for event in routed:
        routing.publish_event(event)
    for name in LICENCE_EXAMPLES:  # another seller's product: no rule of ours matches
        routing.publish_event(eventbridge_example(name, Parties(seller_account=SELLER, product_code="theirs")))
    # When the event source polls the queue dry
    assert poll_all(source) == len(routed)
    # Then each of ours arrived once, every field as AWS delivers it (EventBridge's own id), and parses
    delivered = sorted((json.loads(body) for body in function.bodies), key=but_id)
    expected = sorted(routed, key=but_id)
    for got, sent in zip(delivered, expected, strict=True):
        assert set(got) == set(sent)
        assert but_id(got) == but_id(sent)
        parsed = parse_notification(json.dumps(got), message_id="m", sent_at=datetime.now(UTC))
        assert parsed.name == sent["detail-type"]
    # and nothing is left behind
    assert source.visible() == 0


def test_a_reported_failure_is_retried_after_the_visibility_timeout_then_dead_lettered(
    engine: MotoServer, clock: Clock
) -> None:
    plan = RoutingPlan(queues=(QueueSpec("dlq"), QueueSpec("work", 30, "dlq", 2)))
    routing = Routing(engine.url, plan).provision()
    sqs = client("sqs", engine.url)
    for body in ("good", "bad"):
        sqs.send_message(QueueUrl=routing.queue_urls["work"], MessageBody=body)
    function = Function(failing=("bad",))
    source = SqsEventSource(sqs, routing.queue_urls["work"], routing.queue_arn("work"), function)
    # the batch: the good one deleted, the bad one kept out of sight for the visibility timeout
    assert poll_all(source) == 2
    assert (source.delivered, source.failed) == (2, 1)
    clock.advance(29)
    assert poll_all(source) == 0
    clock.advance(2)
    assert poll_all(source) == 1
    assert function.events[-1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    # received maxReceiveCount times: the queue's redrive moves it to the dead-letter queue, not to the function
    clock.advance(31)
    assert poll_all(source) == 0
    assert function.bodies == ["good", "bad", "bad"]
    dead = sqs.receive_message(QueueUrl=routing.queue_urls["dlq"], MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["bad"]


def test_a_function_error_keeps_the_whole_batch(engine: MotoServer, clock: Clock) -> None:
    routing = Routing(engine.url, RoutingPlan(queues=(QueueSpec("work", 30),))).provision()
    sqs = client("sqs", engine.url)
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=routing.queue_urls["work"], MessageBody=body)
    failing = SqsEventSource(sqs, routing.queue_urls["work"], routing.queue_arn("work"), Function(error=True))
    assert poll_all(failing) == 2
    clock.advance(31)
    working = Function()
    assert poll_all(SqsEventSource(sqs, routing.queue_urls["work"], routing.queue_arn("work"), working)) == 2
    assert sorted(working.bodies) == ["one", "two"]


def test_a_failure_naming_no_message_of_the_batch_keeps_the_whole_batch(engine: MotoServer, clock: Clock) -> None:
    # as Lambda treats a batchItemFailures entry with a missing, empty or unknown itemIdentifier
    routing = Routing(engine.url, RoutingPlan(queues=(QueueSpec("work", 30),))).provision()
    sqs = client("sqs", engine.url)
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=routing.queue_urls["work"], MessageBody=body)

    def confused(event: dict[str, Any]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": ""}]}

    source = SqsEventSource(sqs, routing.queue_urls["work"], routing.queue_arn("work"), confused)
    assert poll_all(source) == 2
    assert source.failed == 2
    clock.advance(31)
    working = Function()
    assert poll_all(SqsEventSource(sqs, routing.queue_urls["work"], routing.queue_arn("work"), working)) == 2
    assert sorted(working.bodies) == ["one", "two"]


def test_a_delayed_message_waits_on_the_stack_clock(engine: MotoServer, clock: Clock) -> None:
    routing = Routing(engine.url, RoutingPlan(queues=(QueueSpec("work"),))).provision()
    sqs = client("sqs", engine.url)
    sqs.send_message(QueueUrl=routing.queue_urls["work"], MessageBody="timer", DelaySeconds=900)
    function = Function()
    source = SqsEventSource(sqs, routing.queue_urls["work"], routing.queue_arn("work"), function)
    clock.advance(899)
    assert poll_all(source) == 0
    clock.advance(2)
    assert poll_all(source) == 1
    assert function.bodies == ["timer"]


def test_legacy_messages_reach_the_queue_through_the_subscribed_topic_only(engine: MotoServer, clock: Clock) -> None:
    topic = sns_topic("subscription_subscribe-success.txt", OUR_PRODUCT)
    plan = RoutingPlan(queues=(QueueSpec("work"),), subscriptions=(SubscriptionSpec(topic, "work"),))
    routing = Routing(engine.url, plan).provision()
    message = sns_message("subscription_subscribe-success.txt", customer_identifier="cust-1", product_code=OUR_PRODUCT)
    assert routing.publish_sns(topic, message)
    unsubscribed = sns_topic("entitlement_entitlement-updated.txt", OUR_PRODUCT)
    assert not routing.publish_sns(unsubscribed, message)
    function = Function()
    source = SqsEventSource(client("sqs", engine.url), routing.queue_urls["work"], routing.queue_arn("work"), function)
    assert poll_all(source) == 1
    [body] = function.bodies
    envelope = json.loads(body)
    assert (envelope["Type"], envelope["Message"]) == ("Notification", message)
    parsed = parse_notification(body, message_id="m", sent_at=datetime.now(UTC))
    assert (parsed.customer_identifier, parsed.product_code) == ("cust-1", OUR_PRODUCT)


def test_drain_returns_once_what_was_routed_is_handled(engine: MotoServer, clock: Clock) -> None:
    routing = Routing(engine.url, RoutingPlan(queues=(QueueSpec("work"),))).provision()
    sqs = client("sqs", engine.url)
    function = Function()
    source = SqsEventSource(sqs, routing.queue_urls["work"], routing.queue_arn("work"), function)
    for number in range(25):
        sqs.send_message(QueueUrl=routing.queue_urls["work"], MessageBody=str(number))
    # no poller: nothing is handled, so drain gives up, naming what is left
    with pytest.raises(TimeoutError, match="25 messages still visible"):
        source.drain(timeout=0.2)
    source.start()
    try:
        source.drain()
        assert sorted(map(int, function.bodies)) == list(range(25))
    finally:
        source.stop()
