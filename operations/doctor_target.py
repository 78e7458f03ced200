"""Where ``cli doctor`` looks: a deployed stack through CloudFormation and the caller's AWS credentials, or ``make
run``'s stack through the same checks, with every AWS client pointed at its loopback stand-in and CloudFormation's
answers read from the stack's run file (DynamoDB Local and the local Lambda service are no CloudFormation resources,
so the local stack writes what DescribeStacks and ListStackResources would say of it: ``local.stack``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from functions.clock import SystemClock, app_clock
from functions.settings import settings_from_env
from functions.wiring.aws_clients import DYNAMODB_CONFIG, NO_RETRY_CONFIG
from operations.doctor import DoctorDeps, Resource, StackView, post_form
from operations.queries import UnknownName
from operations.target import Boto3StackLookup, TargetError, operations_deps, resolve_stack

ENTITLEMENT_REGION = "us-east-1"  # GetEntitlements is served there only
# every AWS service the checks call, and where the local stack serves it (an environment variable of its run file)
LOCAL_ENDPOINTS = {
    "meteringmarketplace": "MARKETPLACE_ENDPOINT",
    "marketplace-entitlement": "MARKETPLACE_ENDPOINT",
    "events": "SQS_ENDPOINT",  # moto serves EventBridge, SQS and CloudWatch at one endpoint
    "sqs": "SQS_ENDPOINT",
    "cloudwatch": "SQS_ENDPOINT",
}


def local_doctor(run_file: Path) -> DoctorDeps:
    try:
        described: dict[str, Any] = json.loads(run_file.read_text())
        environment: dict[str, str] = described["environment"]
        stack = described["stack"]
        view = StackView(
            name=str(stack["name"]),
            account=str(stack["account"]),
            outputs=dict(stack["outputs"]),
            resources=tuple(Resource(r["logical_id"], r["physical_id"], r["type"]) for r in stack["resources"]),
        )
    except OSError:
        raise TargetError(
            f"no local stack: start one with `make run` (it writes {run_file}), or name a deployed one with --stage "
            "or --stack"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise TargetError(f"{run_file} is not a local stack description (it lacks {error})") from None
    settings = settings_from_env(environment)
    session = boto3.Session(
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        region_name=settings.region,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=environment[LOCAL_ENDPOINTS[service]], config=NO_RETRY_CONFIG)

    dynamodb = session.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=DYNAMODB_CONFIG)
    flush = [r for r in view.resources if r.type == "AWS::Lambda::Function" and r.logical_id.startswith("Flush")]
    return DoctorDeps(
        stack=view,
        operations=operations_deps(settings, dynamodb, app_clock(settings.clock_file)),
        client=client,
        post=post_form,
        require_https=False,
        flush_function=flush[0].physical_id if flush else "flush",
    )


def deployed_doctor(stack_name: str, *, profile: str | None, region: str | None) -> DoctorDeps:
    """A deployed stack, with the caller's credentials. Not run by the tests: they stay on loopback."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as error:
        raise TargetError(str(error)) from error
    if not session.region_name:
        raise TargetError("--region: none given and none in the profile")
    deployed = resolve_stack(Boto3StackLookup(session), stack_name, session.region_name)
    try:
        (stack,) = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise UnknownName("stack", stack_name) from error
        raise TargetError(f"CloudFormation: {error}") from error
    resources = Boto3StackLookup(session).resources(stack_name)
    view = StackView(
        name=stack_name,
        account=str(stack["StackId"]).split(":")[4],
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        resources=tuple(Resource(r.logical_id, r.physical_id, r.resource_type) for r in resources),
    )

    def client(service: str) -> Any:
        where = ENTITLEMENT_REGION if service == "marketplace-entitlement" else session.region_name
        return session.client(service, region_name=where, config=NO_RETRY_CONFIG)

    return DoctorDeps(
        stack=view,
        operations=operations_deps(
            deployed.settings, session.client("dynamodb", config=DYNAMODB_CONFIG), SystemClock()
        ),
        client=client,
        post=post_form,
        require_https=True,
        flush_function=deployed.flush_function,
    )
