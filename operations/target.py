"""Where the operator's commands run: the local stack (its loopback endpoints) or a deployed stack (by name, with
the caller's AWS profile). Both give the same thing: the app's settings, read access to its tables, and a flush."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.clock import Clock, SystemClock, app_clock
from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.notices import AgreementNotice
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.service import FlushDeps
from functions.marketplace.agreements import MarketplaceAgreementEntitlements
from functions.marketplace.cloudtrail import CloudTrailReader
from functions.settings import Settings, settings_from_env
from functions.usage.store import DynamoUsageStore
from functions.wiring.aws_clients import DYNAMODB_CONFIG, NO_RETRY_CONFIG
from functions.wiring.flush import metering_gateway
from operations.agreement_billing import MarketplaceAgreementBilling
from operations.agreement_cancellation import MarketplaceAgreementCancellations
from operations.arguments import shown
from operations.erasure import ContactKeeper
from operations.flushing import ProgressCallback, flush_deployed, flush_here
from operations.metering_view import DynamoMeteringView
from operations.queries import MeteringRegion, OperationsDeps, TrailSource, UnknownName
from operations.refund_claims import DynamoRefundClaims
from stacks.schema import ALL_TABLES, REGIONAL_TABLES, TableSpec

# the Agreement Service answers only in us-east-1, wherever the stack runs (functions.wiring.aws_clients)
AGREEMENT_REGION = "us-east-1"
FLUSH_FUNCTION_LOGICAL_ID = "FlushFunction"  # stacks/constructs/flush.py: Flush(stack, "Flush") / "Function"
# a deployed flush may run for its whole 15-minute timeout before it answers
_INVOKE = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=10, read_timeout=960)
# refunds are sent once a call: an answer lost is the next run's to send again (its token the same refund). botocore's
# retry of a call whose answer was lost could be refused (AWS may look at the room left before the token) as if the
# refund had never been taken, and its hours freed for a second one (attack 39)
_REFUNDS = Config(retries={"mode": "standard", "total_max_attempts": 1})


class TargetError(RuntimeError):
    """The target cannot be used as given (no local stack running, a stack that is not ours...)."""


@dataclass(frozen=True)
class Target:
    name: str
    deps: OperationsDeps
    run_flush: Callable[[ProgressCallback], dict[str, Any]]
    contacts: ContactKeeper  # the buyers' personal data, for erasure
    trail: TrailSource | None = None  # CloudTrail's event history where AWS received the metering
    # the other Regions that meter (cdk.json `regions`), found when a command first reads them
    other_regions: Callable[[], Sequence[MeteringRegion]] = tuple

    # the Agreement Service's cancellation requests, with the caller's credentials (``cli cancel-agreement``)
    cancellations: Callable[[], MarketplaceAgreementCancellations] | None = None
    # each agreement's licence and provisioning status (``cli reconcile`` shows it beside each buyer)
    agreement_entitlements: Callable[[], MarketplaceAgreementEntitlements] | None = None
    # the agreements' invoices and refunds, likewise (``cli adjust``), and the hours refunds asked for (once each)
    billing: Callable[[], MarketplaceAgreementBilling] | None = None
    refund_claims: Callable[[], DynamoRefundClaims] | None = None
    # keeps what AWS says of an agreement as the lifecycle keeps its events' notices (``cli adjust --settle``: a
    # refund AWS failed whose Failed event never came)
    keep_notice: Callable[[AgreementNotice], bool] | None = None

    def regions(self) -> list[MeteringRegion]:
        """Every Region that meters, this stack's first: what ``usage`` and ``reconcile`` read."""
        return [MeteringRegion(self.deps, self.trail), *self.other_regions()]


def contacts(settings: Settings, dynamodb: Any) -> DynamoCustomerRepository:
    return DynamoCustomerRepository(dynamodb, settings.customers_table, settings.contacts_table)


def operations_deps(settings: Settings, dynamodb: Any, clock: Clock) -> OperationsDeps:
    return OperationsDeps(
        settings=settings,
        customers=DynamoCustomerRepository(dynamodb, settings.customers_table),
        usage=_usage_store(settings, dynamodb),
        metering=DynamoMeteringView(dynamodb, settings.metering_table),
        clock=clock,
        notices=DynamoCustomerRepository(dynamodb, settings.customers_table),
    )


def _usage_store(settings: Settings, dynamodb: Any) -> DynamoUsageStore:
    retention = timedelta(days=settings.audit_retention_days)
    return DynamoUsageStore(dynamodb, settings.usage_table, shards=settings.usage_shards, retention=retention)


def local_target(
    settings: Settings,
    *,
    credentials: Mapping[str, str],
    clock: Clock | None = None,
    regions: Sequence[Settings] = (),
) -> Target:
    """The local stack's tables and emulator; the flush runs in this process, as the local Lambda service runs it.
    ``regions``: the metering stacks of other Regions beside it (``make run REGIONS=...``), read by ``usage`` and
    ``reconcile``."""
    session = _local_session(settings, credentials)
    dynamodb = session.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=DYNAMODB_CONFIG)
    moment = clock or app_clock(settings.clock_file)
    flush_deps = FlushDeps(
        settings=settings,
        usage=_usage_store(settings, dynamodb),
        ledger=DynamoMeteringLedger(
            dynamodb, settings.metering_table, retention=timedelta(days=settings.audit_retention_days), clock=moment
        ),
        customers=DynamoCustomerRepository(dynamodb, settings.customers_table),
        gateway=metering_gateway(
            settings,
            moment,
            lambda: session.client(
                "meteringmarketplace", endpoint_url=settings.marketplace_endpoint, config=NO_RETRY_CONFIG
            ),
        ),
        clock=moment,
    )
    return Target(
        name=f"local (DynamoDB {settings.dynamodb_endpoint}, Marketplace {settings.marketplace_endpoint})",
        deps=operations_deps(settings, dynamodb, moment),
        run_flush=lambda on_progress: flush_here(flush_deps, on_progress),
        contacts=contacts(settings, dynamodb),
        trail=_trail(settings, session),
        other_regions=lambda: [_local_region(regional, credentials, moment) for regional in regions],
        # the emulator answers the Agreement Service too
        cancellations=lambda: MarketplaceAgreementCancellations(
            session.client(
                "marketplace-agreement", region_name=AGREEMENT_REGION, endpoint_url=settings.marketplace_endpoint
            )
        ),
        billing=lambda: MarketplaceAgreementBilling(
            session.client(
                "marketplace-agreement", region_name=AGREEMENT_REGION, endpoint_url=settings.marketplace_endpoint
            ),
            sender=session.client(
                "marketplace-agreement",
                region_name=AGREEMENT_REGION,
                endpoint_url=settings.marketplace_endpoint,
                config=_REFUNDS,
            ),
        ),
        refund_claims=lambda: DynamoRefundClaims(dynamodb, settings.metering_table),
        keep_notice=DynamoLifecycleStore(dynamodb, settings.customers_table).record_notice,
        agreement_entitlements=lambda: MarketplaceAgreementEntitlements(
            session.client(
                "marketplace-agreement", region_name=AGREEMENT_REGION, endpoint_url=settings.marketplace_endpoint
            )
        ),
    )


def _local_session(settings: Settings, credentials: Mapping[str, str]) -> Any:
    # signed for the stack's Region: the emulator bills, and keeps CloudTrail's history, per Region
    return boto3.Session(
        aws_access_key_id=credentials.get("AWS_ACCESS_KEY_ID") or "local",
        aws_secret_access_key=credentials.get("AWS_SECRET_ACCESS_KEY") or "local",
        region_name=settings.region,
    )


def _trail(settings: Settings, session: Any) -> TrailSource:
    # CloudTrail of the session's Region (locally, the emulator answers LookupEvents for the calls it received)
    return lambda unreadable: CloudTrailReader(
        session.client("cloudtrail", endpoint_url=settings.marketplace_endpoint), unreadable
    )


def _local_region(settings: Settings, credentials: Mapping[str, str], clock: Clock) -> MeteringRegion:
    session = _local_session(settings, credentials)
    dynamodb = session.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=DYNAMODB_CONFIG)
    return MeteringRegion(operations_deps(settings, dynamodb, clock), _trail(settings, session))


@dataclass(frozen=True)
class LocalStack:
    """A running local stack as its run file (or the environment) describes it."""

    settings: Settings
    credentials: Mapping[str, str]
    regions: tuple[Settings, ...] = ()  # the metering stacks of its other Regions (make run REGIONS=...)


def local_settings(run_file: Path, environ: Mapping[str, str]) -> LocalStack | None:
    """The running local stack's settings (and loopback credentials, and its other Regions' stacks): from the file
    ``make run`` writes while it runs, else from the environment when it names a DynamoDB endpoint; None when neither
    does."""
    try:
        described = run_file.read_text() if run_file.exists() else None
    except (OSError, ValueError) as error:  # a directory, unreadable, a name too long or holding a NUL
        raise TargetError(f"--run-file: cannot read {shown(str(run_file))}: {error}") from None
    if described is not None:
        try:
            document = json.loads(described)
            environment: dict[str, str] = document["environment"]
            regional: dict[str, dict[str, str]] = document.get("regions") or {}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise TargetError(f"{run_file} is not a local stack description ({error})") from error
    elif environ.get("DYNAMODB_ENDPOINT"):
        environment, regional = dict(environ), {}
    else:
        return None
    settings = settings_from_env(environment)
    missing = [r for r in settings.other_metering_regions if not isinstance(regional.get(r), dict)]
    if missing:
        where = run_file if described is not None else "the environment"
        raise TargetError(f"{where} names metering Regions it does not describe: {', '.join(missing)}")
    regions = tuple(settings_from_env(regional[r]) for r in settings.other_metering_regions)
    return LocalStack(settings, environment, regions)


# --- a deployed stack ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    physical_id: str
    resource_type: str


class StackLookup(Protocol):
    def resources(self, stack_name: str) -> list[StackResource]:
        """Every resource of the stack; UnknownName if there is no such stack."""
        ...

    def function_environment(self, function_name: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class DeployedStack:
    settings: Settings
    flush_function: str


def _one(resources: Iterable[StackResource], prefix: str, resource_type: str) -> StackResource | None:
    # CDK's logical ids are the construct path plus an 8-character hash
    pattern = re.compile(rf"^{re.escape(prefix)}[0-9A-F]{{8}}$")
    found = [r for r in resources if r.resource_type == resource_type and pattern.fullmatch(r.logical_id)]
    return found[0] if len(found) == 1 else None


def resolve_stack(
    lookup: StackLookup, stack_name: str, region: str, specs: tuple[TableSpec, ...] = ALL_TABLES
) -> DeployedStack:
    """Table names and the flush function from the stack's resources; products and tuning from the flush function's
    own environment, so the CLI reads the data exactly as the deployed flush does. ``specs``: the tables the stack
    holds (another Region's holds its usage and metering tables, its flush names the customers table's replica)."""
    resources = lookup.resources(stack_name)
    flush_function = _one(resources, FLUSH_FUNCTION_LOGICAL_ID, "AWS::Lambda::Function")
    tables = {spec: _one(resources, f"Tables{spec.logical_name}", "AWS::DynamoDB::GlobalTable") for spec in specs}
    missing = [f"the {spec.logical_name} table" for spec, table in tables.items() if table is None]
    if flush_function is None:
        missing.append("the flush function")
    if missing:
        raise TargetError(f"stack {stack_name!r} is not a metering stack (missing: {', '.join(missing)})")
    assert flush_function is not None
    environment = lookup.function_environment(flush_function.physical_id)
    table_names: dict[str, Any] = {s.settings_field: t.physical_id for s, t in tables.items() if t is not None}
    settings = replace(settings_from_env({**environment, "AWS_REGION": region}), **table_names)
    return DeployedStack(settings=settings, flush_function=flush_function.physical_id)


def resolve_regional(lookup: StackLookup, stack_name: str, region: str) -> Settings:
    """The settings of the metering stack ``stack_name`` deployed in ``region`` (cdk.json ``regions``: app.py names it
    ``<stack>-<region>``)."""
    return resolve_stack(lookup, f"{stack_name}-{region}", region, REGIONAL_TABLES).settings


class Boto3StackLookup:
    def __init__(self, session: Any) -> None:
        self._session = session

    def resources(self, stack_name: str) -> list[StackResource]:
        # ListStackResources pages through every resource (DescribeStackResources stops at 100)
        paginator = self._session.client("cloudformation").get_paginator("list_stack_resources")
        try:
            return [
                StackResource(r["LogicalResourceId"], r.get("PhysicalResourceId", ""), r["ResourceType"])
                for page in paginator.paginate(StackName=stack_name)
                for r in page["StackResourceSummaries"]
            ]
        except ClientError as error:
            if "does not exist" in str(error):
                raise UnknownName("stack", stack_name) from error
            raise TargetError(f"CloudFormation: {error}") from error

    def function_environment(self, function_name: str) -> dict[str, str]:
        try:
            configuration = self._session.client("lambda").get_function_configuration(FunctionName=function_name)
        except ClientError as error:
            raise TargetError(f"Lambda: {error}") from error
        variables: dict[str, str] = configuration.get("Environment", {}).get("Variables", {})
        return variables


def deployed_target(stack_name: str, *, profile: str | None, region: str | None) -> Target:
    """A deployed stack, through the caller's profile. Never exercised by the tests (they stay on loopback)."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as error:
        raise TargetError(str(error)) from error
    if not session.region_name:
        raise TargetError("no region: pass --region or set one in the profile")
    stack = resolve_stack(Boto3StackLookup(session), stack_name, session.region_name)
    dynamodb = session.client("dynamodb", config=DYNAMODB_CONFIG)
    deps = operations_deps(stack.settings, dynamodb, SystemClock())
    lambda_client = session.client("lambda", config=_INVOKE)

    def invoke() -> dict[str, Any]:
        response = lambda_client.invoke(FunctionName=stack.flush_function, Payload=b"{}")
        answer: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise TargetError(f"the flush failed: {answer.get('errorMessage', answer)}")
        return answer

    def other_regions() -> list[MeteringRegion]:
        # each Region's stack is <stack>-<region> (app.py), read with the same credentials in its own Region
        found = []
        for region in stack.settings.other_metering_regions:
            regional = boto3.Session(profile_name=profile, region_name=region)
            settings = resolve_regional(Boto3StackLookup(regional), stack_name, region)
            dynamodb = regional.client("dynamodb", config=DYNAMODB_CONFIG)
            found.append(MeteringRegion(operations_deps(settings, dynamodb, SystemClock()), _trail(settings, regional)))
        return found

    return Target(
        name=f"stack {stack_name} ({session.region_name})",
        deps=deps,
        run_flush=lambda on_progress: flush_deployed(invoke, deps.metering.pending_count, on_progress),
        contacts=contacts(stack.settings, dynamodb),
        trail=_trail(stack.settings, session),
        other_regions=other_regions,
        cancellations=lambda: MarketplaceAgreementCancellations(
            session.client("marketplace-agreement", region_name=AGREEMENT_REGION)
        ),
        billing=lambda: MarketplaceAgreementBilling(
            session.client("marketplace-agreement", region_name=AGREEMENT_REGION),
            sender=session.client("marketplace-agreement", region_name=AGREEMENT_REGION, config=_REFUNDS),
        ),
        refund_claims=lambda: DynamoRefundClaims(dynamodb, stack.settings.metering_table),
        keep_notice=DynamoLifecycleStore(dynamodb, stack.settings.customers_table).record_notice,
        agreement_entitlements=lambda: MarketplaceAgreementEntitlements(
            session.client("marketplace-agreement", region_name=AGREEMENT_REGION)
        ),
    )
