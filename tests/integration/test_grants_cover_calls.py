"""Every AWS call a handler makes is allowed by its role in the synthesized template.

The roles say they grant "exactly the calls the code makes"; here the code's calls are recorded rather than read:
each handler runs representative flows in-process, as Lambda invokes it, against DynamoDB Local, the Marketplace
emulator, moto's SQS and the loopback stand-ins (Lambda, EventBridge), with botocore hooks on boto3's default session
recording every call (tests/aws_calls.py). Each call is then looked up in the stack's template: the IAM action it
needs (``<prefix>:<Operation>``) must be allowed, by that function's own role, on the resource the call names, which
is found the way the deployed function finds it, through the environment variable the template gives the function
(``CUSTOMERS_TABLE`` -> ``{"Ref": <table>}`` -> a statement on ``{"Fn::GetAtt": [<table>, "Arn"]}``; a secondary
index through ``Fn::Join`` of the table's ARN and ``/index/<name>``), or the function itself, or "*".

Not checked against recorded calls, because the local stand-ins cannot see them:
- ``secretsmanager:GetSecretValue`` (registration, the signing secret): Powertools' parameters utility reads it
  through a boto3 session of its own, which the default session's hooks never reach; locally the secret is given in
  SIGNING_SECRET. Checked statically below, on the secret SIGNING_SECRET_ARN names.
- The Lambda service's own calls for the lifecycle function's SQS event source (ReceiveMessage, DeleteMessage,
  ChangeMessageVisibility, GetQueueAttributes): made by the event source mapping with the function's role, never by
  the code; the tests drive the handler with SQS records directly.
- X-Ray and CloudWatch Logs writes: made by the Lambda runtime, not the code (tests/infra/test_least_privilege.py).
- IAM conditions are not evaluated: GetAgreementTerms is granted on "*" only for purchase agreements the seller
  proposed, which the emulator's agreements are, but only AWS can check that.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.customers.subjects import licence_id
from functions.handlers import flush, registration, usage
from functions.registration import signing
from functions.settings import Settings, settings_environment
from functions.usage.model import hour_of
from local.apigateway import LambdaContext, proxy_event
from local.lambda_service import LocalLambda
from local.marketplace.testing import EmulatorHandle
from stacks.schema import ALL_TABLES
from tests.aws_calls import IAM_PREFIX, AwsCall, CallRecorder, LocalEventBus, Need, recording
from tests.aws_corpus import Parties, eventbridge_example
from tests.infra.conftest import cdk_json_context
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

HANDLERS = {
    "usage": "functions.handlers.usage.handler",
    "registration": "functions.handlers.registration.handler",
    "flush": "functions.handlers.flush.handler",
    "lifecycle": "functions.handlers.lifecycle.handler",
}
ITSELF = "itself"  # a call naming the calling function (the flush continuing its backlog)
FUNCTION_ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"  # local.apigateway.LambdaContext's ARNs
ANY = "*"
TABLE_OF_VARIABLE = {spec.settings_field.upper(): spec.logical_name for spec in ALL_TABLES}
BUYER = "111122223333"
FORM = "application/x-www-form-urlencoded"
MINUTE = 60


# --- the template: each function's role, and what it allows on which resource -------------------------------------


@dataclass(frozen=True)
class Role:
    handler: str
    function_id: str
    environment: dict[str, Any]  # the function's environment in the template (values are strings or Refs)
    statements: tuple[dict[str, Any], ...]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_key(resource: Any) -> tuple[str, ...]:
    """A statement's resource as ("*",), ("arn", <logical id>) or ("index", <table id>, <index>)."""
    if resource == ANY:
        return (ANY,)
    if isinstance(resource, dict):
        if "Fn::GetAtt" in resource and resource["Fn::GetAtt"][1] == "Arn":
            return ("arn", resource["Fn::GetAtt"][0])
        if "Ref" in resource:  # a Ref in a policy's Resource is an ARN (a secret's, say)
            return ("arn", resource["Ref"])
        join = resource.get("Fn::Join")
        if join and join[0] == "" and len(join[1]) == 2:
            base, suffix = join[1]
            found = re.fullmatch(r"/index/([\w.-]+)", suffix) if isinstance(suffix, str) else None
            if found and isinstance(base, dict) and base.get("Fn::GetAtt", [None, None])[1] == "Arn":
                return ("index", base["Fn::GetAtt"][0], found.group(1))
    return ("unrecognised", json.dumps(resource, sort_keys=True))


def roles_of(template: dict[str, Any]) -> dict[str, Role]:
    resources: dict[str, Any] = template["Resources"]
    roles = {}
    for name, handler in HANDLERS.items():
        found = [
            (logical_id, r)
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler
        ]
        assert len(found) == 1, f"{handler}: {len(found)} functions in the template"
        function_id, function = found[0]
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = tuple(
            statement
            for r in resources.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
            for statement in r["Properties"]["PolicyDocument"]["Statement"]
        )
        assert "ManagedPolicyArns" not in resources[role_id]["Properties"], f"{handler}: a managed policy"
        assert "Policies" not in resources[role_id]["Properties"], f"{handler}: inline policies on the role"
        environment = function["Properties"].get("Environment", {}).get("Variables", {})
        roles[name] = Role(handler, function_id, environment, statements)
    return roles


def _matches(statement: dict[str, Any], action: str, key: tuple[str, ...]) -> bool:
    # not modelled here
    assert "NotAction" not in statement, statement
    assert "NotResource" not in statement, statement
    actions = _listed(statement["Action"])
    if not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in actions):
        return False
    keys = {resource_key(r) for r in _listed(statement["Resource"])}
    return (ANY,) in keys or key in keys


def allowed(role: Role, action: str, key: tuple[str, ...]) -> bool:
    """IAM's evaluation without conditions: an explicit deny wins, else some allow must match."""
    matching = [s for s in role.statements if _matches(s, action, key)]
    return any(s["Effect"] == "Allow" for s in matching) and not any(s["Effect"] == "Deny" for s in matching)


def _granted_on(role: Role, action: str) -> list[str]:
    return [
        json.dumps(s["Resource"])
        for s in role.statements
        if s["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in _listed(s["Action"]))
    ]


# --- a call's resource, as the function finds it -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a call goes: ``"*"`` (no resource), ``ITSELF``, or the environment variable naming the resource."""

    anchor: str
    index: str | None = None

    @property
    def label(self) -> str:
        """Short: "Customers", "Usage/index/gsi1", "LIFECYCLE_QUEUE_URL", "itself", "*"."""
        name = TABLE_OF_VARIABLE.get(self.anchor, self.anchor)
        return f"{name}/index/{self.index}" if self.index else name

    def describe(self) -> str:
        if self.anchor in TABLE_OF_VARIABLE:
            table = f"the {TABLE_OF_VARIABLE[self.anchor]} table"
            return f"index {self.index} of {table}" if self.index else table
        if self.anchor in (ANY, ITSELF):
            return {ANY: '"*" (the action takes no resource)', ITSELF: "the function itself"}[self.anchor]
        return f"the resource {self.anchor} names"

    def key(self, role: Role) -> tuple[str, ...] | str:
        """The statement resource that grants it in ``role``'s template, or why there is none."""
        if self.anchor == ANY:
            return (ANY,)
        if self.anchor == ITSELF:
            return ("arn", role.function_id)
        reference = role.environment.get(self.anchor)
        if not (isinstance(reference, dict) and "Ref" in reference):
            return f"the template gives the function no {self.anchor} referring to a resource ({reference!r})"
        return ("index", reference["Ref"], self.index) if self.index else ("arn", reference["Ref"])


def target_of(need: Need, environment: dict[str, str], function_name: str) -> Target | str:
    """The resource a recorded call names, by the environment variable that named it to the handler."""
    if need.resource is None:
        return Target(ANY)
    # by name, or by the ARN it was invoked by (the flush continues through what invoked it)
    if need.action.startswith("lambda:") and need.resource in (function_name, f"{FUNCTION_ARN_PREFIX}{function_name}"):
        return Target(ITSELF)
    variables = [name for name, value in environment.items() if value == need.resource]
    if len(variables) != 1:
        return f"{need.resource!r} is named by {variables or 'no'} environment variable of the handler"
    return Target(variables[0], need.index)


@dataclass
class Flow:
    """What one test ran: the settings its handlers read, and the calls they made."""

    settings: Settings
    recorder: CallRecorder

    def targets(self, handler: str) -> list[tuple[AwsCall, Need, Target | str]]:
        environment = settings_environment(self.settings)
        return [
            (call, need, target_of(need, environment, handler))
            for call in self.recorder.calls_of(handler)
            for need in call.needs
        ]

    def made(self, handler: str) -> set[tuple[str, str]]:
        return {
            (need.action, target.label if isinstance(target, Target) else target)
            for _, need, target in self.targets(handler)
        }


def refusals(role: Role, name: str, targets: list[tuple[AwsCall, Need, Target | str]]) -> list[str]:
    """Every recorded call ``role`` does not allow, each named with its handler, action and resource."""
    problems = []
    for call, need, target in targets:
        where = f"{name} ({role.handler}) calls {call} needing {need.action} on {need.resource or '*'}"
        if call.service not in IAM_PREFIX:
            problems.append(f"{where}: no IAM prefix known for botocore service {call.service!r} (tests/aws_calls.py)")
            continue
        if isinstance(target, str):
            problems.append(f"{where}: cannot tell which resource: {target}")
            continue
        key = target.key(role)
        if isinstance(key, str):
            problems.append(f"{where} ({target.describe()}): {key}")
        elif not allowed(role, need.action, key):
            granted = _granted_on(role, need.action) or ["nothing"]
            problems.append(
                f"{where}, i.e. {target.describe()}: NOT GRANTED by its role "
                f"({need.action} is granted on {', '.join(granted)})"
            )
    return sorted(set(problems))


def assert_covered(roles: dict[str, Role], flow: Flow, handler: str, expected: set[tuple[str, str]]) -> None:
    made = flow.made(handler)
    # the recorder saw what the flow is known to do (so an empty recording cannot pass)
    assert expected <= made, f"{handler} did not make {sorted(expected - made)}; recorded: {sorted(made)}"
    problems = refusals(roles[handler], handler, flow.targets(handler))
    assert not problems, "calls the role does not allow:\n" + "\n".join(problems)


# --- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def roles() -> dict[str, Role]:
    """The stack as cdk.json configures it, synthesized once (cdk-nag's checks are tests/infra's business)."""
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(context=cdk_json_context(), outdir=outdir)
        template = dict(Template.from_stack(build_app(app)).to_json())
    return roles_of(template)


@pytest.fixture
def recorder(dynamodb: Any, marketplace: EmulatorHandle) -> Iterator[CallRecorder]:
    # after the session's own clients (the tests' DynamoDB client, the emulator): only the app's clients record
    with recording() as recording_calls:
        yield recording_calls


@pytest.fixture
def bus() -> Iterator[LocalEventBus]:
    with LocalEventBus() as local_bus:
        yield local_bus


@pytest.fixture
def environment(bus: LocalEventBus, tmp_path: Path) -> dict[str, str]:
    """What every flow's handlers read besides their tables: a bus (the seller events through the real publisher)
    and a movable clock."""
    clock_file = tmp_path / "clock-offset-seconds"
    clock_file.write_text("0")
    return {
        "EVENT_BUS_NAME": "seller-events",
        "AWS_ENDPOINT_URL_EVENTBRIDGE": bus.url,
        "SIGNING_SECRET": "grants-test-signing-secret",
        "CLOCK_FILE": str(clock_file),
        "USAGE_SHARDS": "2",
    }


def product(code: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "name": f"Product {code}", "dimensions": [{"name": "api_calls"}], **fields}


def post_usage(events: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps({"events": events}).encode()
    event = proxy_event("POST", "/usage", "/usage", headers={"Content-Type": ["application/json"]}, body=body)
    response: dict[str, Any] = usage.handler(event, LambdaContext(function_name="usage"))
    return response


def usage_event(event_id: str, customer: Customer, quantity: int, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "product_code": customer.ref.product_code,
        "license_arn": customer.ref.license_arn,
        "customer_aws_account_id": customer.customer_aws_account_id,
        "dimension": "api_calls",
        "quantity": quantity,
        "timestamp": at.isoformat(),
    }


def post_form(path: str, fields: dict[str, str]) -> dict[str, Any]:
    body = urllib.parse.urlencode(fields).encode()
    event = proxy_event("POST", path, path, headers={"Content-Type": [FORM]}, body=body)
    response: dict[str, Any] = registration.handler(event, LambdaContext(function_name="registration"))
    return response


def subscribed_customer(marketplace: EmulatorHandle, dynamodb: Any, settings: Settings, code: str) -> Customer:
    """A buyer subscribed since yesterday and stored active (the test's own client: not recorded)."""
    start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    subscription = marketplace.admin.subscribe(code, BUYER, start_time=start)
    customer = Customer(
        CustomerRef(code, license_arn=subscription["license_arn"]),
        BUYER,
        SubscriptionState.ACTIVE,
        datetime.now(UTC) - timedelta(days=1),
        agreement_id=subscription["agreement_id"],
    )
    DynamoCustomerRepository(dynamodb, settings.customers_table).put(customer)
    return customer


# --- the flows ----------------------------------------------------------------------------------------------------


def test_the_usage_functions_calls_are_granted(
    roles: dict[str, Role],
    recorder: CallRecorder,
    handler_environment: Callable[..., Settings],
    environment: dict[str, str],
    marketplace: EmulatorHandle,
    dynamodb: Any,
) -> None:
    marketplace.admin.create_product("grantsusage1", ["api_calls"])
    settings = handler_environment([product("grantsusage1")], **environment)
    customer = subscribed_customer(marketplace, dynamodb, settings, "grantsusage1")
    now = datetime.now(UTC)
    with recorder.invoking("usage"):
        # a batch stored, the same batch again (duplicates), and one refused for an unknown licence
        batch = [usage_event(f"u-{n}", customer, 2, now) for n in range(3)]
        assert post_usage(batch)["statusCode"] == 200
        assert json.loads(post_usage(batch)["body"])["duplicates"] == 3
        unknown = {**usage_event("u-x", customer, 1, now), "license_arn": f"{customer.ref.license_arn}0"}
        assert post_usage([unknown])["statusCode"] == 422
    assert_covered(
        roles,
        Flow(settings, recorder),
        "usage",
        {("dynamodb:PartiQLInsert", "Usage"), ("dynamodb:BatchGetItem", "Customers")},
    )


def test_the_registration_functions_calls_are_granted(
    roles: dict[str, Role],
    recorder: CallRecorder,
    handler_environment: Callable[..., Settings],
    environment: dict[str, str],
    marketplace: EmulatorHandle,
    bus: LocalEventBus,
) -> None:
    for code in ("grantsreg1", "grantsreg2"):
        marketplace.admin.create_product(code, ["api_calls"], fulfillment_url="http://127.0.0.1:9/register")
    signup_page = {"signup_redirect_url": "https://seller.example/signup"}
    settings = handler_environment([product("grantsreg1"), product("grantsreg2", **signup_page)], **environment)
    trial = marketplace.admin.subscribe("grantsreg1", BUYER, free_trial=True)
    redirected = marketplace.admin.subscribe("grantsreg2", BUYER)
    token = {"x-amzn-marketplace-token": trial["registration_token"]}
    with recorder.invoking("registration"):
        # a free-trial buyer registers (the claim checked with GetAgreementTerms) and completes the form
        page = post_form("/register", {**token, "x-amzn-marketplace-offer-type": "free-trial"})
        assert page["statusCode"] == 200, page["body"]
        found = re.search(r'name="registration" value="([^"]+)"', page["body"])
        assert found
        contact = {"company": "Acme", "contact_name": "Ada", "email": "ada@example.com"}
        done = post_form("/register/complete", {"registration": found.group(1), **contact})
        assert done["statusCode"] == 200, done["body"]
        # a buyer sent to the seller's sign-up page: its back end exchanges the value, then links them to its tenant
        sent = post_form("/register", {"x-amzn-marketplace-token": redirected["registration_token"]})
        assert sent["statusCode"] == 303, sent["body"]
        location = sent["multiValueHeaders"]["Location"][0]
        value = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)[signing.SIGNUP_PARAMETER][0]
        secret = settings.signing_secret or ""
        exchanged = post_form("/register/signup", signing.signup_exchange(value, secret))
        assert exchanged["statusCode"] == 200, exchanged["body"]
        claims = json.loads(exchanged["body"])["customer"]
        linked = post_form("/register/tenant", {"tenant_link": signing.tenant_link(claims, "tenant-1", secret)})
        assert linked["statusCode"] == 200, linked["body"]
        # the page reloaded (the first answer replayed), and a token Marketplace does not know (the record freed)
        assert post_form("/register", token)["statusCode"] == 200
        assert post_form("/register", {"x-amzn-marketplace-token": "unknown-token-123"})["statusCode"] == 400
    assert "Customer Registered" in bus.detail_types()
    assert_covered(
        roles,
        Flow(settings, recorder),
        "registration",
        {
            ("aws-marketplace:ResolveCustomer", ANY),
            ("aws-marketplace:GetAgreementTerms", ANY),
            ("dynamodb:UpdateItem", "Customers"),
            ("dynamodb:PutItem", "Idempotency"),
            ("dynamodb:DeleteItem", "Idempotency"),
            ("events:PutEvents", "EVENT_BUS_NAME"),
        },
    )


def test_the_flush_functions_calls_are_granted(
    roles: dict[str, Role],
    recorder: CallRecorder,
    handler_environment: Callable[..., Settings],
    environment: dict[str, str],
    marketplace: EmulatorHandle,
    dynamodb: Any,
) -> None:
    marketplace.admin.create_product("grantsflush1", ["api_calls"])
    continued: list[Any] = []
    # the continuation's invocation arrives here (the flush itself is not run again by it)
    with LocalLambda({"flush": lambda event, _context: continued.append(event)}) as lambdas:
        settings = handler_environment(
            [product("grantsflush1", zero_usage_records=True)],
            **environment,
            LAMBDA_ENDPOINT=lambdas.url,
            FLUSH_GRACE_SECONDS="0",
        )
        customer = subscribed_customer(marketplace, dynamodb, settings, "grantsflush1")
        now = datetime.now(UTC)
        with recorder.invoking("usage"):
            assert post_usage([usage_event("f-1", customer, 5, now)])["statusCode"] == 200
        # the hour closes, and the next (an event sent in an hour's last minute is billed in the next: the grace is 0
        # here), the app's clock and the emulator's moved together
        closed = hour_of(now) + timedelta(hours=2, minutes=1)
        Path(environment["CLOCK_FILE"]).write_text(str((closed - now).total_seconds()))
        marketplace.admin.set_clock(closed.isoformat())
        with recorder.invoking("flush"):
            # a run with less time left than it keeps in reserve hands the backlog to a fresh invocation at once
            short = flush.handler({"source": "aws.events"}, LambdaContext(function_name="flush", timeout_seconds=30))
            assert short["continued"] is True
            report = flush.handler({"continuation": 1}, LambdaContext(function_name="flush", timeout_seconds=900))
            # the next scheduled run, with its time to spare, checks the settled hour against CloudTrail
            checked = flush.handler({"source": "aws.events"}, LambdaContext(function_name="flush", timeout_seconds=900))
            assert "reconciliation_mismatches" in checked
    assert continued == [{"continuation": 1}]
    assert report["succeeded"] >= 1, report
    assert sum(int(r["quantity"]) for r in marketplace.admin.ledger(product_code="grantsflush1")) == 5
    assert_covered(
        roles,
        Flow(settings, recorder),
        "flush",
        {
            ("dynamodb:Query", "Usage"),
            ("dynamodb:Scan", "Customers"),
            ("dynamodb:UpdateItem", "Metering"),
            ("aws-marketplace:BatchMeterUsage", ANY),
            ("cloudtrail:LookupEvents", ANY),
            ("lambda:InvokeFunction", ITSELF),
        },
    )


@dataclass
class RecordedWorld(LifecycleWorld):
    """The lifecycle world with its handler invocations attributed."""

    recorder: CallRecorder | None = None

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.recorder is not None
        with self.recorder.invoking("lifecycle"):
            return super().invoke(event)

    def register(self, token: str, **form: str) -> None:
        assert self.recorder is not None
        with self.recorder.invoking("registration"):
            super().register(token, **form)

    def send(self, example: str, subscription: dict[str, Any], **names: str) -> None:
        """AWS's published example about this subscription, now, and any timer it set off."""
        parties = Parties(
            buyer_account=BUYER,
            agreement_id=subscription["agreement_id"],
            licence_id=str(licence_id(subscription["license_arn"])),
            product_code=subscription["product_code"],
        )
        self.handle([eventbridge_example(example, parties.with_(**names), at=self.clock.now())])
        self.run_timers()

    def state(self, subscription: dict[str, Any]) -> SubscriptionState:
        return self.customer(CustomerRef(subscription["product_code"], license_arn=subscription["license_arn"])).state


@pytest.fixture
def world(
    recorder: CallRecorder,
    marketplace: EmulatorHandle,
    dynamodb: Any,
    handler_environment: Callable[..., Settings],
    environment: dict[str, str],
    tmp_path: Path,
) -> Iterator[RecordedWorld]:
    marketplace.admin.create_product("grantslife1", ["api_calls"], fulfillment_url="http://127.0.0.1:9/register")
    marketplace.admin.create_product(
        "grantscontract1", ["api_calls"], pricing="contract", fulfillment_url="http://127.0.0.1:9/register"
    )
    products = [product("grantslife1"), product("grantscontract1", pricing="contract")]
    variables = {k: v for k, v in environment.items() if k not in ("CLOCK_FILE", "SIGNING_SECRET", "USAGE_SHARDS")}
    with lifecycle_world(marketplace, dynamodb, handler_environment, tmp_path, products, **variables) as plain:
        yield RecordedWorld(
            plain.settings, plain.marketplace, plain.dynamodb, plain.queue, plain.clock_file, recorder=recorder
        )


def test_the_lifecycle_functions_calls_are_granted(
    roles: dict[str, Role], recorder: CallRecorder, world: RecordedWorld, bus: LocalEventBus
) -> None:
    admin = world.marketplace.admin
    # a buyer of a contract: License Updated reads their entitlements
    contract = admin.subscribe("grantscontract1", "444455556666")
    world.seen = admin.notifications()[-1]["seq"]  # the emulator's own notifications: not delivered
    world.register(contract["registration_token"])
    world.send("created_proposer_new.json", contract, buyer_account="444455556666")
    world.send("license_updated.json", contract, buyer_account="444455556666")
    assert world.state(contract) is SubscriptionState.ACTIVE
    # an agreement event before its buyer registered: its licence asked of GetAgreementEntitlements
    early = admin.subscribe("grantslife1", "123123123123")
    world.seen = admin.notifications()[-1]["seq"]
    world.send("created_proposer_new.json", early, buyer_account="123123123123")
    assert [c["operation"] for c in admin.calls(operation="GetAgreementEntitlements")] == ["GetAgreementEntitlements"]
    # a free-trial claim whose terms could not be read at registration: asked again later by the lifecycle function
    trial = admin.subscribe("grantslife1", "777788889999", free_trial=True)
    world.seen = admin.notifications()[-1]["seq"]
    admin.queue_errors({"operation": "GetAgreementTerms", "code": "ThrottlingException", "count": 2})
    world.register(trial["registration_token"], **{"x-amzn-marketplace-offer-type": "free-trial"})
    world.pass_time(2 * MINUTE, step=MINUTE)
    assert world.customer(CustomerRef("grantslife1", license_arn=trial["license_arn"])).free_trial
    # a buyer who subscribes, uses, and leaves: their final usage is sent by the lifecycle function
    leaving = admin.subscribe("grantslife1", BUYER)
    world.seen = admin.notifications()[-1]["seq"]
    world.register(leaving["registration_token"])
    world.send("created_proposer_new.json", leaving)
    world.send("license_updated.json", leaving)
    customer = world.customer(CustomerRef("grantslife1", license_arn=leaving["license_arn"]))
    assert world.use(customer, 7, "l-1").accepted == ("l-1",)  # not a handler's call: not recorded
    world.send("ended_proposer.json", leaving)
    assert world.state(leaving) is SubscriptionState.ENDING
    world.pass_time(46 * MINUTE)  # past the cutoff: the queue's timer runs the final usage
    assert world.billed(leaving["license_arn"]) == 7
    world.send("license_deprovisioned.json", leaving)
    assert world.state(leaving) is SubscriptionState.ENDED
    assert world.failures == []
    assert {"Customer Activated", "Customer Ended"} <= set(bus.detail_types())
    assert_covered(
        roles,
        Flow(world.settings, recorder),
        "lifecycle",
        {
            ("dynamodb:UpdateItem", "Customers"),
            ("dynamodb:PutItem", "Idempotency"),
            ("aws-marketplace:GetEntitlements", ANY),
            ("sqs:SendMessage", "LIFECYCLE_QUEUE_URL"),
            # the final usage: the buyer's usage read, the records and their outcomes written, then sent
            ("dynamodb:Query", "Usage"),
            ("dynamodb:UpdateItem", "Metering"),
            ("aws-marketplace:BatchMeterUsage", ANY),
            ("events:PutEvents", "EVENT_BUS_NAME"),
            ("aws-marketplace:GetAgreementTerms", ANY),
            ("aws-marketplace:GetAgreementEntitlements", ANY),
        },
    )
    # the registrations in this world are the registration function's, and are granted too (the claim's timer too)
    assert_covered(
        roles,
        Flow(world.settings, recorder),
        "registration",
        {("aws-marketplace:ResolveCustomer", ANY), ("sqs:SendMessage", "LIFECYCLE_QUEUE_URL")},
    )


# --- what cannot be recorded locally, and the checker itself -------------------------------------------------------


def test_the_signing_secret_read_powertools_makes_is_granted(roles: dict[str, Role]) -> None:
    role = roles["registration"]
    key = Target("SIGNING_SECRET_ARN").key(role)
    assert isinstance(key, tuple), key
    assert allowed(role, "secretsmanager:GetSecretValue", key)


def _call(handler: str, service: str, operation: str, *needs: Need) -> AwsCall:
    return AwsCall(handler, service, service, service, operation, needs)


def test_a_call_the_role_does_not_allow_is_reported_by_handler_call_and_table(roles: dict[str, Role]) -> None:
    environment = settings_environment(Settings(customers_table="c-table", usage_table="u-table"))

    def problems(handler: str, call: AwsCall) -> list[str]:
        return refusals(roles[handler], handler, [(call, n, target_of(n, environment, handler)) for n in call.needs])

    # an action the role lacks on a table
    (refused,) = problems("usage", _call("usage", "dynamodb", "UpdateItem", Need("dynamodb:UpdateItem", "u-table")))
    assert all(part in refused for part in ("usage", "dynamodb.UpdateItem", "the Usage table", "NOT GRANTED"))
    # the table's grant does not cover its index, nor the index's grant the table
    query = Need("dynamodb:Query", "c-table")
    (refused,) = problems("lifecycle", _call("lifecycle", "dynamodb", "Query", query))
    assert "the Customers table" in refused
    index_query = Need("dynamodb:Query", "c-table", "gsi1")
    assert problems("lifecycle", _call("lifecycle", "dynamodb", "Query", index_query)) == []
    # a granted action, on another function's role
    put = Need("dynamodb:PutItem", "u-table")
    assert problems("usage", _call("usage", "dynamodb", "PutItem", put)) == []
    (refused,) = problems("registration", _call("registration", "dynamodb", "PutItem", put))
    assert "registration" in refused
    assert "the Usage table" in refused
    # a service nobody mapped, and a resource no environment variable names
    (refused,) = problems("usage", _call("usage", "s3", "GetObject", Need("s3:GetObject")))
    assert "no IAM prefix known" in refused
    (refused,) = problems("usage", _call("usage", "dynamodb", "PutItem", Need("dynamodb:PutItem", "elsewhere")))
    assert "cannot tell which resource" in refused
