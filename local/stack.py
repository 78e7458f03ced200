"""`make run`: the whole integration on loopback, the way AWS runs it, printing where each part listens.

- DynamoDB Local with our tables, and the Marketplace emulator with a demo product whose fulfillment URL is ours;
- a local API Gateway serving every route of the stack by invoking the real handlers with REST proxy events
  (``POST /usage``'s IAM authorization replaced by a local ``x-api-key``);
- the flush on a schedule, through a local Lambda Invoke stand-in (so its self-continuation works too);
- the emulator's lifecycle notifications routed as in AWS, on moto (``local.routing``): its events put on
  EventBridge, where the rules of the template we synthesize send what they match to the lifecycle queue (its
  dead-letter queue and redrive policy as synthesized; legacy SNS topics subscribed likewise), and Lambda's SQS event
  source (``local.event_source``) handing the queue's batches to our lifecycle handler;
- one movable clock for the app and the emulator, and ``/_local/`` controls to move it and flush now, so nobody
  waits an hour for one to close.

Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from functions.clock import FileOffsetClock
from functions.settings import METERING_MODES, Settings, settings_environment, settings_from_env
from local import region
from local.apigateway import LocalApiGateway, Route, registration_routes
from local.controls import (
    DEFAULT_FLUSH_INTERVAL,
    JSON_HEADER,
    ROOT,
    RUN_FILE,
    deployed_settings,
    every,
    json_response,
    refused,
    scheduled_event,
    stop_on_signals,
    wait_for_stop,
)
from local.dynamodb import DynamoDBLocal, DynamoDBLocalError
from local.event_source import SqsEventSource
from local.lambda_service import LocalLambda
from local.marketplace.clock import MAX_OFFSET, clock_move
from local.marketplace.demo import seed_demo
from local.marketplace.hosts import loopback_host
from local.marketplace.server import EmulatorServer
from local.metrics import InvocationMetrics, alarm_specs, provision_alarms
from local.routing import ACCOUNT as ROUTING_ACCOUNT
from local.routing import MotoServer, Routing, SynthFailed, moto_as_aws, routing_plan, synthesized_templates
from local.routing import client as routing_client
from local.tables import create_tables

# stacks/constructs/lifecycle.py's HANDLER, named here so that make run imports no CDK (tests/e2e/test_make_run.py)
LIFECYCLE_HANDLER = "functions.handlers.lifecycle.handler"
FLUSH_HANDLER = "functions.handlers.flush.handler"  # stacks/constructs/flush.py's, likewise
OPENAPI = ROOT / "docs" / "openapi.json"


# Locally every usage write is in-process and done when its request returns, so the final-usage step needs no
# minute of margin for writes still in flight (AWS: FINAL_USAGE_DELAY_SECONDS' default).
LOCAL_FINAL_USAGE_DELAY_SECONDS = 5


def local_environment(
    dynamodb_endpoint: str,
    marketplace_url: str,
    lambda_url: str,
    sqs_endpoint: str,
    queue_url: str,
    clock_file: str,
    other_regions: tuple[str, ...] = (),
    metering_mode: str | None = None,
) -> dict[str, str]:
    """The environment the handlers read their settings from: cdk.json's, as the stack would deploy them (validated
    the same way), pointed at the loopback stand-ins; ``other_regions``: the Regions whose metering stacks run
    beside this one (``local.region``)."""
    local = replace(
        deployed_settings(),
        dynamodb_endpoint=dynamodb_endpoint,
        marketplace_endpoint=marketplace_url,
        lambda_endpoint=lambda_url,
        sqs_endpoint=sqs_endpoint,
        lifecycle_queue_url=queue_url,
        final_usage_delay_seconds=LOCAL_FINAL_USAGE_DELAY_SECONDS,
        clock_file=clock_file,
        signing_secret=secrets.token_urlsafe(32),
        other_metering_regions=other_regions,
    )
    if metering_mode is not None:  # as cdk.json's "metering_mode" would set it
        local = replace(local, metering_mode=metering_mode)
    return {
        "AWS_DEFAULT_REGION": local.region,
        "AWS_ACCESS_KEY_ID": "AKIALOCALSTACKSELLER",
        "AWS_SECRET_ACCESS_KEY": "local-only",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MarketplaceMetering",
        **settings_environment(local),
    }


@dataclass
class LocalStack:
    settings: Settings
    dynamodb_endpoint: str
    marketplace: EmulatorServer
    api: LocalApiGateway
    lambdas: LocalLambda
    api_key: str
    clock_file: Path
    routing: Routing
    lifecycle_events: SqsEventSource
    template: dict[str, Any]  # the main stack's, as synthesized

    @property
    def api_url(self) -> str:
        return self.api.url

    def flush_now(self) -> Any:
        """Run the flush as its schedule does, and wait for it."""
        return self.lambdas.run("flush", scheduled_event())

    def scheduled_flush(self) -> Any:
        """What the schedule does: the flush, while its rule is enabled (disabled on the engine, as an operator may on
        AWS, it runs no more)."""
        schedule = self.routing.schedule_of(FLUSH_HANDLER)
        if schedule is None or self.routing.rule_enabled(schedule.name):
            return self.flush_now()
        return None

    def description(self) -> dict[str, Any]:
        """What CloudFormation tells of a deployed stack (``DescribeStacks``' outputs, ``ListStackResources``), for
        this one: the template's outputs that have a local value, and its resources that exist here under their local
        names (rules, queues and alarms on the engine, the functions in the local Lambda service)."""
        functions = {FLUSH_HANDLER: "flush", LIFECYCLE_HANDLER: "lifecycle"}
        local_outputs = {"FulfillmentUrl": f"{self.api_url}/register", "UsageApiUrl": f"{self.api_url}/usage"}
        outputs = {
            key: value
            for key in self.template.get("Outputs", {})
            for name, value in local_outputs.items()
            if name in key
        }
        resources = []
        for logical, resource in self.template["Resources"].items():
            kind = resource["Type"]
            physical = None
            if kind in ("AWS::Events::Rule", "AWS::CloudWatch::Alarm"):
                physical = logical
            elif kind == "AWS::SQS::Queue":
                physical = self.routing.queue_urls.get(logical)
            elif kind == "AWS::Lambda::Function":
                physical = functions.get(resource["Properties"].get("Handler"))
            if physical is not None:
                resources.append({"logical_id": logical, "physical_id": physical, "type": kind})
        return {"name": "local", "account": ROUTING_ACCOUNT, "outputs": outputs, "resources": resources}

    def advance_clock(self, seconds: float) -> datetime:
        """Move the app's and the emulator's clocks together: the app's offset is checked against the emulator's
        bound first, then the emulator moves (it refuses a move too far for its own clock), then the app; a refusal
        moves neither. ValueError names what was refused."""
        offset = float(self.clock_file.read_text() or 0) + seconds
        if abs(offset) > MAX_OFFSET.total_seconds():
            # the emulator's clock may have been moved apart (its admin API): the app's is bounded the same way
            raise ValueError(f"the app's clock may be at most {MAX_OFFSET.days} days off (it would be {offset:.0f} s)")
        request = urllib.request.Request(
            f"{self.marketplace.url}/admin/clock",
            data=json.dumps({"advance_seconds": seconds}).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as error:
            raise ValueError(json.loads(error.read() or b"{}").get("error", "refused")) from None
        self.clock_file.write_text(str(offset))
        return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=offset)


def main_template(templates: list[dict[str, Any]]) -> dict[str, Any]:
    """The main stack's template: the one whose outputs give the fulfillment URL."""
    (found,) = [t for t in templates if any("FulfillmentUrl" in key for key in t.get("Outputs", {}))]
    return found


def control_routes(stack: LocalStack) -> list[Route]:
    """Local-only controls (not part of the deployed API)."""

    def flush(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return refused(event) or json_response(200, stack.flush_now())

    def clock(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if refusal := refused(event):
            return refusal
        try:
            moved = stack.advance_clock(clock_move(json.loads(event.get("body") or "{}")["advance_seconds"]))
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            return json_response(400, {"message": f'send {{"advance_seconds": N}}: {error}'})
        return json_response(200, {"now": moved.isoformat()})

    def openapi(event: dict[str, Any], context: Any) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        if not loopback_host(headers.get("host")):
            return json_response(403, {"message": "requests must be addressed to a loopback host"})
        return json_response(200, local_openapi(stack.api_url))

    def drain(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if refusal := refused(event):
            return refusal
        try:
            stack.lifecycle_events.drain()
        except TimeoutError as error:
            return json_response(504, {"message": str(error)})
        source = stack.lifecycle_events
        return json_response(200, {"delivered": source.delivered, "failed": source.failed})

    return [
        Route("POST", "/_local/flush", flush),
        Route("POST", "/_local/clock", clock),
        Route("GET", "/_local/openapi.json", openapi),
        # waits until the lifecycle queue has nothing visible and nothing in hand: what was routed is handled
        Route("POST", "/_local/drain", drain),
    ]


def local_openapi(api_url: str) -> dict[str, Any]:
    """The API's OpenAPI document as shipped (docs/openapi.json, `make docs`), for this stack: its URL, and the
    local ``x-api-key`` where AWS takes SigV4."""
    document: dict[str, Any] = json.loads(OPENAPI.read_text())
    document["servers"] = [{"url": api_url, "description": "this local stack (`make run`)"}]
    document["components"]["securitySchemes"] = {
        "localApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "printed by `make run`"}
    }
    for item in document["paths"].values():
        for operation in item.values():
            if operation.get("security"):
                operation["security"] = [{"localApiKey": []}]
    return document


@contextmanager
def running(
    *,
    host: str = "127.0.0.1",
    api_port: int = 3000,
    marketplace_port: int = 3001,
    dynamodb_port: int = 8000,
    flush_interval: float = DEFAULT_FLUSH_INTERVAL,
    templates: list[dict[str, Any]] | None = None,
    other_regions: tuple[str, ...] = (),
    metering_mode: str | None = None,
) -> Iterator[LocalStack]:
    """Start every part; stop them all on exit, whatever happened. The lifecycle notifications are routed by
    ``templates`` (default: this checkout's, synthesized); a leaving buyer's final usage is also asked of
    ``other_regions`` (their stacks: ``local.region``)."""
    from functions.handlers import flush, lifecycle, usage

    with ExitStack() as stack:
        endpoint = os.environ.get("DYNAMODB_ENDPOINT") or stack.enter_context(DynamoDBLocal(dynamodb_port)).endpoint
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="marketplace-local-")))
        clock_file = scratch / "clock-offset-seconds"
        clock_file.write_text("0")
        lambdas = stack.enter_context(LocalLambda({"flush": flush.handler, "lifecycle": lifecycle.handler}, host))
        # EventBridge, SNS and SQS on moto, their delays and visibility timeouts on the stack's movable clock
        moto = stack.enter_context(MotoServer(host))
        stack.enter_context(moto_as_aws(FileOffsetClock(str(clock_file))))
        templates = synthesized_templates() if templates is None else templates
        routing = Routing(moto.url, routing_plan(templates))
        routing.provision()
        cloudwatch = routing_client("cloudwatch", moto.url)
        provision_alarms(cloudwatch, alarm_specs(templates))
        lambdas.observer = InvocationMetrics(cloudwatch, FileOffsetClock(str(clock_file)))
        source, queue_url = routing.source_queue(LIFECYCLE_HANDLER)
        marketplace = EmulatorServer(host=host, port=marketplace_port)
        api_key = secrets.token_urlsafe(16)
        routes = [*registration_routes(), Route("POST", "/usage", usage.handler, api_key=api_key)]
        api = LocalApiGateway(routes, host, api_port).start()
        stack.callback(api.stop)
        seed_demo(marketplace.marketplace, fulfillment_url=f"{api.url}/register")
        stack.enter_context(marketplace)
        os.environ.update(
            local_environment(
                endpoint,
                marketplace.url,
                lambdas.url,
                moto.url,
                queue_url,
                str(clock_file),
                tuple(other_regions),
                metering_mode,
            )
        )
        settings = settings_from_env(os.environ)
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint, region_name=settings.region), settings)
        # the lifecycle queue's batches to the lifecycle function, as its event source mapping does
        events = SqsEventSource(
            routing_client("sqs", moto.url),
            queue_url,
            routing.queue_arn(source.queue),
            lambda event: lambdas.run("lifecycle", event),
            batch_size=source.batch_size,
            reports_item_failures=source.reports_item_failures,
        ).start()
        stack.callback(events.stop)
        local = LocalStack(
            settings,
            endpoint,
            marketplace,
            api,
            lambdas,
            api_key,
            clock_file,
            routing,
            events,
            main_template(templates),
        )
        routes.extend(control_routes(local))  # the gateway serves this same list
        marketplace.add_listener(routing.emulator_listener())
        stopped = threading.Event()
        stack.callback(stopped.set)
        if flush_interval > 0:
            every(flush_interval, local.scheduled_flush, stopped)
        yield local


ADVANCE = '{"advance_seconds": 3900}'


def banner(local: LocalStack, flush_interval: float) -> str:
    api = local.api_url
    return f"""Local stack is up (Ctrl-C stops everything):
  DynamoDB Local        {local.dynamodb_endpoint}  tables: customers usage metering idempotency
  Marketplace emulator  {local.marketplace.url}/   (buyer page; admin API under /admin/, ledger at /admin/ledger)
  API (fulfillment URL) {api}/register
  Usage API             {api}/usage   (x-api-key: {local.api_key})
  OpenAPI               {api}/_local/openapi.json
  Flush                 every {flush_interval:g}s; now: curl -X POST {api}/_local/flush -H '{JSON_HEADER}'
  Clock                 move app + emulator: curl -X POST {api}/_local/clock -H '{JSON_HEADER}' -d '{ADVANCE}'
  Event routing         {local.routing.endpoint}  (moto: EventBridge, SNS, SQS; the synthesized rules and queues)
  Lifecycle queue       wait until handled: curl -X POST {api}/_local/drain -H '{JSON_HEADER}'
"""


# what the operator CLI (python -m operations.cli) reads to find this stack; never the signing secret
_DESCRIBED = (
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "CUSTOMERS_TABLE",
    "USAGE_TABLE",
    "METERING_TABLE",
    "IDEMPOTENCY_TABLE",
    "PRODUCTS",
    "METERING_MODE",  # the CLI's flush meters as the stack's does
    "OTHER_METERING_REGIONS",  # their stacks are described beside this one's
    "STAGE",
    "DYNAMODB_ENDPOINT",
    "MARKETPLACE_ENDPOINT",
    "LAMBDA_ENDPOINT",
    "SQS_ENDPOINT",
    "LIFECYCLE_QUEUE_URL",
    "CLOCK_FILE",
)


def _regional(other: str) -> dict[str, str]:
    """What the CLI reads of the metering stack of ``other`` beside this one (``local.region`` starts it): its own
    Region and tables, this stack's shared parts and credentials."""
    regional = settings_environment(region.regional_settings(os.environ, other))
    credentials = {name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    return {**{name: regional[name] for name in _DESCRIBED if name in regional}, **credentials}


@contextmanager
def described(local: LocalStack, path: Path) -> Iterator[None]:
    """Write where the running stack listens to ``path`` (default .run/local.json) for the operator CLI and the
    producer client's local mode (``UsageClient.local()``); removed on stop, unless another local stack has written
    its own there since."""
    contents = json.dumps(
        {
            "pid": os.getpid(),
            "api_url": local.api_url,
            "marketplace_url": local.marketplace.url,
            "usage_api_key": local.api_key,  # for the producer client's local mode (usage_client)
            "stack": local.description(),  # for cli doctor: what CloudFormation would tell
            "environment": {name: os.environ[name] for name in _DESCRIBED if name in os.environ},
            # the metering stacks of its other Regions (local.region), as the CLI reads them: their own tables
            "regions": {other: _regional(other) for other in local.settings.other_metering_regions},
        },
        indent=2,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(contents)
    try:
        yield
    finally:
        if path.exists() and path.read_text() == contents:
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--marketplace-port", type=int, default=3001)
    parser.add_argument("--dynamodb-port", type=int, default=8000)
    parser.add_argument("--flush-interval", type=float, default=DEFAULT_FLUSH_INTERVAL, help="seconds; 0: never")
    parser.add_argument("--run-file", type=Path, default=RUN_FILE, help="for the operator CLI")
    parser.add_argument(
        "--template",
        type=Path,
        action="append",
        help="route lifecycle notifications by this synthesized template (repeatable; default: this checkout's)",
    )
    parser.add_argument(
        "--metering-mode",
        choices=METERING_MODES,
        help="meter live or dry-run whatever cdk.json says (as a stage's metering_mode would)",
    )
    parser.add_argument(
        "--region-stack",
        action="append",
        default=[],
        metavar="REGION",
        help="also a metering stack of this Region beside this one (local.region; repeatable)",
    )
    args = parser.parse_args(argv)
    stopped = threading.Event()
    stop_on_signals(stopped)
    # `kill -USR1` prints every thread's stack: where a stop that does not finish is waiting
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        with (
            running(
                api_port=args.api_port,
                marketplace_port=args.marketplace_port,
                dynamodb_port=args.dynamodb_port,
                flush_interval=args.flush_interval,
                templates=[json.loads(path.read_text()) for path in args.template] if args.template else None,
                other_regions=tuple(args.region_stack),
                metering_mode=args.metering_mode,
            ) as local,
            described(local, args.run_file),
            region.launched(args.region_stack, args.run_file, args.flush_interval) as regional_banners,
        ):
            print(banner(local, args.flush_interval), *regional_banners, sep="\n", flush=True)
            wait_for_stop(stopped)
    except (DynamoDBLocalError, OSError, SynthFailed, LookupError, region.RegionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
