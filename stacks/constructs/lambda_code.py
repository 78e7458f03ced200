"""The one code asset (our ``functions/`` package only) and the pinned dependency layer, built without Docker."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    Annotations,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.bytecode import MISSING, compile_for_runtime, runtime_python
from stacks.runtime_environment import RUNTIME_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = ROOT / "build" / "layer"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
# how AWS Distro for OpenTelemetry's layers (AWSOpenTelemetryDistro*) instrument a function: the runtime starts it
# through this wrapper (CDK's AdotInstrumentationConfig serves only the older layers with a collector of their own)
OPEN_TELEMETRY_WRAPPER = ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/otel-instrument")

# The asset is functions/ at its root, so handlers are imported as "functions.handlers.x", exactly as the tests do;
# the bundling below copies it there, our sources only, with the runtime's bytecode (stacks/bytecode.py)
_NOT_DEPLOYED = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt")


class LayerNotBuiltError(RuntimeError):
    pass


@jsii.implements(ILocalBundling)
class _SourcesWithBytecode:
    """Bundling on this machine (never Docker): functions/ and the runtime's bytecode of it."""

    def try_bundle(self, output_dir: str, *_options: Any, **_named: Any) -> bool:
        package = Path(output_dir) / "functions"
        shutil.copytree(ROOT / "functions", package, ignore=_NOT_DEPLOYED)
        compile_for_runtime(package)
        return True


def function_code() -> lambda_.Code:
    bundling = BundlingOptions(image=DockerImage.from_registry("local-bundling-only"), local=_SourcesWithBytecode())
    return lambda_.Code.from_asset(str(ROOT / "functions"), bundling=bundling)


def dependencies_layer(scope: Construct) -> lambda_.LayerVersion:
    if not (LAYER_DIR / "python").is_dir():
        raise LayerNotBuiltError(
            f"{LAYER_DIR}/python is missing: run `make layer` once (pip installs functions/requirements.txt "
            "for arm64/python3.13 there; synth itself then needs no network and no Docker)"
        )
    if runtime_python() is None:
        Annotations.of(scope).add_warning_v2("marketplace:noRuntimeBytecode", MISSING)
    return lambda_.LayerVersion(
        scope,
        "Dependencies",
        code=lambda_.Code.from_asset(str(LAYER_DIR)),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Pinned runtime dependencies from functions/requirements.txt",
    )


@dataclass(frozen=True)
class FunctionBase:
    """What every function of the stack shares: the one code asset, the layer, the settings environment, retention."""

    code: lambda_.Code
    layer: lambda_.ILayerVersion
    environment: dict[str, str]
    log_retention: logs.RetentionDays
    snap_start: frozenset[str] = frozenset()  # the functions (by handler module name) restored from snapshots
    bills: bool = True  # metering_mode live: BatchMeterUsage is granted; in dry-run no role may call it
    # the AWS Distro for OpenTelemetry layer's ARN in this stack's Region (cdk.json `open_telemetry_layers`), or none
    open_telemetry_layer: str | None = None

    def snap_starts(self, handler: str) -> bool:
        return handler.split(".")[2] in self.snap_start  # "functions.handlers.<name>.handler"


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    base: FunctionBase,
    handler: str,
    environment: dict[str, str] | None = None,
    timeout_seconds: int = 29,
    memory_size: int = 512,
    reserved_concurrent_executions: int | None = None,
    description: str | None = None,
) -> lambda_.Function:
    """A function as every one of ours is: arm64, python3.13, the layer, JSON logs kept ``log_retention``, X-Ray,
    and a role of its own that may write only its own log group (no managed policy)."""
    log_group = logs.LogGroup(
        scope, f"{construct_id}Logs", retention=base.log_retention, removal_policy=RemovalPolicy.RETAIN
    )
    role = iam.Role(scope, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn])
    )
    layers: list[lambda_.ILayerVersion] = [base.layer]
    tracing: dict[str, str] = {}
    if arn := base.open_telemetry_layer:
        layers.append(lambda_.LayerVersion.from_layer_version_arn(scope, f"{construct_id}OpenTelemetry", arn))
        tracing = dict([OPEN_TELEMETRY_WRAPPER])
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=base.code,
        layers=layers,
        role=role,
        environment={**RUNTIME_ENVIRONMENT, **base.environment, **(environment or {}), **tracing},
        timeout=Duration.seconds(timeout_seconds),
        memory_size=memory_size,
        reserved_concurrent_executions=reserved_concurrent_executions,
        tracing=lambda_.Tracing.ACTIVE,
        logging_format=lambda_.LoggingFormat.JSON,
        log_group=log_group,
        description=description,
        snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if base.snap_starts(handler) else None,
    )
    if base.snap_starts(handler):
        # CDK warns that SnapStart needs a published version; invocation_target publishes one and invokes it
        Annotations.of(function).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "invocation_target publishes a version on every deploy that changes the function and invokes alias live",
        )
    acknowledge(
        role,
        {
            # tests/infra/test_least_privilege.py pins which actions may be granted on "*"
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray PutTraceSegments/PutTelemetryRecords and the AWS Marketplace actions (ResolveCustomer, "
                "BatchMeterUsage, GetEntitlements) support no resource-level permissions"
            ),
        },
    )
    acknowledge(
        function,
        {
            "AwsSolutions-L1": (
                "python3.13 is pinned on purpose: the dependency layer is built for exactly this runtime and arm64"
            ),
        },
    )
    return function


def invocation_target(function: lambda_.Function, base: FunctionBase, handler: str) -> lambda_.IFunction:
    """What API Gateway, the queue and the schedule invoke. SnapStart restores only published versions, so with it on
    they invoke alias ``live`` of the version each deployment publishes (a new one whenever the code or the
    configuration changed); without it, the function itself."""
    if not base.snap_starts(handler):
        return function
    return lambda_.Alias(function, "Live", alias_name="live", version=function.current_version)


def acknowledge(scope: Construct, reasons: dict[str, str]) -> None:
    """Acknowledge cdk-nag AwsSolutions findings under ``scope``, each with its written reason."""
    for rule, reason in reasons.items():
        Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
