"""``cli doctor``: is this deployment ready to bill? Each check reads the deployed stack as AWS runs it and answers
one line: what it found, and the fix when it fails. In order:

1. ``credentials``: the caller's credentials are those of the account that publishes the products: ResolveCustomer
   with a made-up token answers InvalidTokenException (AccessDenied, or any other answer, names the problem);
2. ``entitlements``: GetEntitlements answers for each configured product;
3. ``fulfillment URL``: the stack's FulfillmentUrl answers a POST without a token with our page's 400, over HTTPS,
   from here (outside the stack);
4. ``lifecycle rules``: the EventBridge rules of Marketplace's events exist, are enabled, and match AWS's published
   example events (replayed with TestEventPattern);
5. ``dead letters``: the lifecycle queue's dead-letter queue is empty;
6. ``flush schedule``: the flush's scheduled rules (hourly, and before the month-end cutoff) are enabled;
7. ``last flush``: a flush finished within the last 2 hours (Lambda's own metrics of the flush function);
8. ``backlog``: nothing unsent, and nothing parked that could still be sent, of an hour that began more than 6 hours
   ago (Marketplace takes a record for 24 hours);
9. ``alarms``: every alarm of the stack is OK;
10. ``metering mode``: the stack meters ``live`` or ``dry-run`` as the operator expects (``--expect``).

The same code checks ``make run``'s stack, its AWS clients pointed at the loopback stand-ins (the emulator, moto's
EventBridge, SQS and CloudWatch, DynamoDB Local) and its CloudFormation answers read from the stack's run file.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from functions.handlers.registration import ERROR_PAGES
from functions.lifecycle.notifications import MARKETPLACE_SOURCE
from functions.registration.service import MissingToken
from operations.queries import OperationsDeps, select, usage
from operations.redrive import refusal

ROOT = Path(__file__).resolve().parent.parent
# AWS's published examples of what Marketplace sends a SaaS seller (SOURCES.md there names each source)
AWS_EXAMPLES = ROOT / "tests" / "fixtures" / "aws"
EXAMPLE_PRODUCT_CODE = "aw4fgf5tyo5w2ap6fEXAMPLE"  # the licence examples' product, as published
_EXAMPLE_ACCOUNT = re.compile(r'"<[^"<>]*account id>"')  # the examples' placeholders for the seller's account
MADE_UP_TOKEN = "cli-doctor-made-up-registration-token"  # noqa: S105 (not a secret: a token that cannot exist)
LAST_FLUSH_WITHIN = timedelta(hours=2)
BACKLOG_OLDER_THAN = timedelta(hours=6)
MARKETPLACE_WINDOW = timedelta(hours=24)
MISSING_TOKEN_STATUS, MISSING_TOKEN_TITLE, _ = ERROR_PAGES[MissingToken]
_UNSENT_STATUSES = ("unsealed", "pending")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    found: str
    fix: str | None = None


@dataclass(frozen=True)
class Resource:
    logical_id: str
    physical_id: str
    type: str


@dataclass(frozen=True)
class StackView:
    """What CloudFormation tells of the stack (its outputs and resources) and the settings its functions run with."""

    name: str
    account: str
    outputs: dict[str, str]
    resources: tuple[Resource, ...]

    def output(self, name: str) -> str | None:
        # CDK names a construct's output after its path: RegistrationFulfillmentUrl9AFBE54F
        found = [value for key, value in self.outputs.items() if re.fullmatch(rf"\w*?{name}(?:[0-9A-F]{{8}})?", key)]
        return found[0] if len(found) == 1 else None

    def of_type(self, kind: str, prefix: str = "") -> list[Resource]:
        return [r for r in self.resources if r.type == kind and r.logical_id.startswith(prefix)]


class Poster(Protocol):
    def __call__(self, url: str, body: bytes) -> tuple[int, str]:
        """POST a form to ``url``: the status and the page."""
        ...


@dataclass(frozen=True)
class DoctorDeps:
    stack: StackView
    operations: OperationsDeps  # the stack's tables and settings, as the CLI's other commands read them
    client: Callable[[str], Any]  # an AWS client by service name (loopback endpoints locally)
    post: Poster
    require_https: bool  # a deployed stack's fulfillment URL must be HTTPS; the local one is plain HTTP
    flush_function: str


def post_form(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 (the stack's own URL, http(s) checked by the caller)
        url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310
            return int(answer.status), answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode("utf-8", "replace")


def _aws_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        found = error.response.get("Error", {})
        return f"{found.get('Code', 'error')}: {found.get('Message', '')}".rstrip(": ")
    return str(error)


# -- the checks ------------------------------------------------------------------------------------------------------


def credentials(deps: DoctorDeps) -> Check:
    name = "credentials"
    try:
        deps.client("meteringmarketplace").resolve_customer(RegistrationToken=MADE_UP_TOKEN)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "InvalidTokenException":
            return Check(name, True, "ResolveCustomer answers a made-up token InvalidTokenException: the seller's")
        fix = (
            "use the credentials of the account that publishes the products (the stack's account), allowed "
            "aws-marketplace:ResolveCustomer"
        )
        return Check(name, False, f"ResolveCustomer answered {_aws_error(error)}", fix)
    except BotoCoreError as error:
        return Check(name, False, f"AWS Marketplace Metering did not answer: {error}", "check the network and Region")
    return Check(name, False, "ResolveCustomer accepted a made-up token", "these are not AWS Marketplace's answers")


def entitlements(deps: DoctorDeps) -> Check:
    products = [p.code for p in deps.operations.settings.products]
    refused = []
    for code in products:
        try:
            deps.client("marketplace-entitlement").get_entitlements(ProductCode=code, MaxResults=1)
        except (ClientError, BotoCoreError) as error:
            refused.append(f"{code}: {_aws_error(error)}")
    if refused:
        fix = "publish each product from this account, or fix its code in cdk.json (products[].code)"
        return Check("entitlements", False, "GetEntitlements refused " + "; ".join(refused), fix)
    return Check("entitlements", True, f"GetEntitlements answers for {', '.join(products)}")


def fulfillment_url(deps: DoctorDeps) -> Check:
    name = "fulfillment URL"
    url = deps.stack.output("FulfillmentUrl")
    if url is None:
        return Check(name, False, "the stack has no FulfillmentUrl output", "deploy this version of the stack")
    if deps.require_https and not url.startswith("https://"):
        return Check(name, False, f"{url} is not HTTPS", "AWS Marketplace posts buyers to an HTTPS URL only")
    try:
        status, page = deps.post(url, b"cli-doctor=1")
    except (OSError, ValueError) as error:
        return Check(name, False, f"{url} did not answer: {error}", "is the API deployed and reachable from here?")
    if status == MISSING_TOKEN_STATUS and f"<title>{MISSING_TOKEN_TITLE}</title>" in page:
        return Check(name, True, f"{url} answers a POST without a token with our page ({status})")
    fix = "enter the stack's FulfillmentUrl output as the product's fulfillment URL; check the API and any WAF"
    return Check(name, False, f"{url} answered {status}, not our page for a missing token", fix)


def example_events(account: str, product_codes: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """AWS's published EventBridge examples, as they reach this account (licence ones: for each of our products)."""
    for path in sorted(AWS_EXAMPLES.glob("*.json")):
        text = _EXAMPLE_ACCOUNT.sub(json.dumps(account), path.read_text(encoding="utf-8"))
        published = json.dumps(EXAMPLE_PRODUCT_CODE)  # the code itself, not the product ids built from it
        for code in product_codes if published in text else [None]:
            label = f"{path.name} ({code})" if code else path.name
            event = json.loads(text.replace(published, json.dumps(code)) if code else text)
            event["account"] = account  # the seller's: a placeholder in the older examples, a made-up one in newer
            yield label, event


def lifecycle_rules(deps: DoctorDeps) -> Check:
    name = "lifecycle rules"
    events = deps.client("events")
    enabled, problems = [], []
    for rule in deps.stack.of_type("AWS::Events::Rule"):
        try:
            described = events.describe_rule(Name=rule.physical_id)
        except ClientError as error:
            problems.append(f"{rule.physical_id} is missing ({_aws_error(error)})")
            continue
        pattern = described.get("EventPattern")
        if not pattern or MARKETPLACE_SOURCE not in json.loads(pattern).get("source", []):
            continue
        if described.get("State") != "ENABLED":
            problems.append(f"{rule.physical_id} is {described.get('State')}")
        else:
            enabled.append((rule.physical_id, pattern))
    codes = [p.code for p in deps.operations.settings.products]
    dropped = [
        label
        for label, event in example_events(deps.stack.account, codes)
        if not any(events.test_event_pattern(EventPattern=p, Event=json.dumps(event))["Result"] for _, p in enabled)
    ]
    if dropped:
        problems.append(f"no enabled rule matches {', '.join(dropped)}")
    if problems:
        fix = "deploy the stack again (or `aws events enable-rule --name NAME`); rules are made by the stack"
        return Check(name, False, "; ".join(problems), fix)
    return Check(
        name, True, f"{len(enabled)} enabled rules match AWS's {len(list(AWS_EXAMPLES.glob('*.json')))} examples"
    )


def dead_letters(deps: DoctorDeps) -> Check:
    queues = [q for q in deps.stack.of_type("AWS::SQS::Queue") if "DeadLetters" in q.logical_id]
    waiting = {}
    for queue in queues:
        attributes = deps.client("sqs").get_queue_attributes(
            QueueUrl=queue.physical_id,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        count = sum(int(v) for v in attributes.values())
        if count:
            waiting[queue.physical_id] = count
    if not queues:
        return Check("dead letters", False, "the stack has no dead-letter queue", "deploy this version of the stack")
    if waiting:
        listed = ", ".join(f"{count} in {url}" for url, count in waiting.items())
        fix = "read them (aws sqs receive-message), fix the cause, then redrive them to the lifecycle queue"
        return Check("dead letters", False, f"notifications the lifecycle could not handle: {listed}", fix)
    return Check("dead letters", True, f"{len(queues)} dead-letter queue(s) empty")


# the flush's scheduled rules: the hourly one, and the month-end one (every 10 minutes on the 1st until 06:00 UTC)
FLUSH_SCHEDULES = ("FlushSchedule", "FlushMonthEndSchedule")


def flush_schedule(deps: DoctorDeps) -> Check:
    found = []
    for prefix in FLUSH_SCHEDULES:
        rules = deps.stack.of_type("AWS::Events::Rule", prefix)
        if len(rules) != 1:
            return Check("flush schedule", False, f"the stack has no {prefix}", "deploy this version of the stack")
        name = rules[0].physical_id
        try:
            described = deps.client("events").describe_rule(Name=name)
        except ClientError as error:
            return Check("flush schedule", False, f"{name}: {_aws_error(error)}", "deploy the stack again")
        state = f"{name} {described.get('ScheduleExpression')} {described.get('State')}"
        if described.get("State") != "ENABLED":
            return Check("flush schedule", False, state, f"aws events enable-rule --name {name}")
        found.append(state)
    return Check("flush schedule", True, "; ".join(found))


def _sum(cloudwatch: Any, metric: str, function: str, start: Any, end: Any) -> float:
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=start,
        EndTime=end,
        Period=int((end - start).total_seconds()),
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in answer["Datapoints"]))


def last_flush(deps: DoctorDeps) -> Check:
    now = deps.operations.clock.now()
    start, end = now - LAST_FLUSH_WITHIN, now + timedelta(minutes=1)  # this minute's datapoints included
    cloudwatch = deps.client("cloudwatch")
    runs = _sum(cloudwatch, "Invocations", deps.flush_function, start, end)
    failed = _sum(cloudwatch, "Errors", deps.flush_function, start, end)
    found = f"{runs:g} flush runs in the last 2 hours, {failed:g} failed"
    if runs - failed < 1:
        fix = "is the schedule enabled? `cli flush` runs one now; the flush function's logs say why runs fail"
        return Check("last flush", False, found, fix)
    return Check("last flush", True, found)


def backlog(deps: DoctorDeps) -> Check:
    now = deps.operations.clock.now()
    # every hour that began more than 6 hours ago and is still within Marketplace's window
    selection = select(deps.operations, since=now - MARKETPLACE_WINDOW, until=now - BACKLOG_OLDER_THAN)
    entries = usage(deps.operations, selection)
    unsent = [e for e in entries if e.status in _UNSENT_STATUSES]
    parked = [e for e in entries if e.status == "failed" and refusal(e, now) is None]
    if unsent or parked:
        oldest = min(e.record.hour for e in [*unsent, *parked]).strftime("%Y-%m-%dT%H:00Z")
        found = f"{len(unsent)} unsent and {len(parked)} parked records older than 6 hours (oldest hour {oldest})"
        fix = "`cli flush` sends what is unsent; `cli failed` says why records were parked, `cli redrive` resends them"
        return Check("backlog", False, found, fix)
    return Check("backlog", True, "nothing unsent or parked older than 6 hours")


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))


def alarms(deps: DoctorDeps) -> Check:
    names = [a.physical_id for a in deps.stack.of_type("AWS::CloudWatch::Alarm")]
    states: dict[str, str] = {}
    for chunk in _chunks(names, 100):
        for alarm in deps.client("cloudwatch").describe_alarms(AlarmNames=list(chunk))["MetricAlarms"]:
            states[alarm["AlarmName"]] = alarm["StateValue"]
    wrong = [f"{n}: {states.get(n, 'missing')}" for n in names if states.get(n) != "OK"]
    if wrong:
        return Check("alarms", False, "; ".join(wrong), "each alarm's description says what it watches; fix that")
    return Check("alarms", True, f"{len(names)} alarms OK")


def metering_mode(deps: DoctorDeps, expected: str | None) -> Check:
    mode = deps.operations.settings.metering_mode
    found = f"{deps.stack.name} meters {mode}" + (" (bills)" if mode == "live" else " (never calls BatchMeterUsage)")
    if expected is not None and mode != expected:
        fix = f'set "metering_mode": "{expected}" in cdk.json and deploy (docs/go-live.md, "Going live")'
        return Check("metering mode", False, f"{found}, not {expected}", fix)
    return Check("metering mode", True, found)


def examine(deps: DoctorDeps, expected_mode: str | None) -> list[Check]:
    checks: list[Callable[[DoctorDeps], Check]] = [
        credentials,
        entitlements,
        fulfillment_url,
        lifecycle_rules,
        dead_letters,
        flush_schedule,
        last_flush,
        backlog,
        alarms,
    ]
    found = []
    for check in checks:
        try:
            found.append(check(deps))
        except (ClientError, BotoCoreError) as error:  # one check's AWS failure does not hide the others
            found.append(Check(check.__name__.replace("_", " "), False, _aws_error(error), "see the AWS error"))
    return [*found, metering_mode(deps, expected_mode)]


def report(checks: Sequence[Check], as_json: bool) -> str:
    if as_json:
        return json.dumps({"ready": all(c.passed for c in checks), "checks": [asdict(c) for c in checks]}, indent=2)
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        lines.append(f"{'ok  ' if check.passed else 'FAIL'} {check.name.ljust(width)}  {check.found}")
        if not check.passed and check.fix:
            lines.append(f"     {' ' * width}  fix: {check.fix}")
    ready = all(c.passed for c in checks)
    lines.append("ready to bill" if ready else f"not ready: {sum(not c.passed for c in checks)} check(s) failed")
    return "\n".join(lines)
