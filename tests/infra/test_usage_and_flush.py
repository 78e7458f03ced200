"""Template assertions: the usage route (IAM auth), the flush (one submitter, schedule) and least privilege."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk.assertions import Match, Template

from tests.infra.conftest import actions, function_statements


def _function(template: Template, handler: str) -> tuple[str, Mapping[str, Any]]:
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    assert len(functions) == 1, handler
    return next(iter(functions.items()))


def _actions_of(template: Template, handler: str) -> set[str]:
    return actions(*function_statements(template.to_json()["Resources"], _function(template, handler)[1]))


def test_post_usage_is_iam_authorized_and_calls_the_usage_function(template: Template) -> None:
    usage_id, _ = _function(template, "functions.handlers.usage.handler")
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "usage"})
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "Integration": Match.object_like({"Type": "AWS_PROXY"}),
        },
    )
    assert usage_id


def test_every_function_of_ours_is_arm64_python313_traced(template: Template) -> None:
    for handler in ("functions.handlers.usage.handler", "functions.handlers.flush.handler"):
        properties = _function(template, handler)[1]["Properties"]
        assert properties["Architectures"] == ["arm64"]
        assert properties["Runtime"] == "python3.13"
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        assert properties["Environment"]["Variables"]["USAGE_TABLE"]


def test_the_flush_is_one_submitter_on_the_configured_schedule(template: Template) -> None:
    flush_id, flush = _function(template, "functions.handlers.flush.handler")
    assert flush["Properties"]["ReservedConcurrentExecutions"] == 1
    assert flush["Properties"]["Timeout"] == 900
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 hour)",
            "Targets": Match.array_with([Match.object_like({"Arn": {"Fn::GetAtt": [flush_id, "Arn"]}})]),
        },
    )


def test_on_the_first_of_the_month_the_flush_also_runs_every_ten_minutes_until_the_cutoff(template: Template) -> None:
    """Last month's records are taken until 06:00 UTC on the 1st: a Marketplace outage over the hourly run before it
    must not forfeit them (simulator seed 42951), so the flush runs every 10 minutes from 00:00 to 05:50 that day."""
    flush_id, _ = _function(template, "functions.handlers.flush.handler")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0/10 0-5 1 * ? *)",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [flush_id, "Arn"]}})],
        },
    )


def test_grants_are_the_actions_the_code_makes(template: Template) -> None:
    # every function writes traces and its own log group (see tests/infra/test_least_privilege.py)
    xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "logs:CreateLogStream", "logs:PutLogEvents"}
    usage = _actions_of(template, "functions.handlers.usage.handler") - xray
    assert usage == {
        "dynamodb:PartiQLInsert",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
    }
    flush = _actions_of(template, "functions.handlers.flush.handler") - xray
    assert flush == {
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Scan",
        # the hourly reconciliation asks whether a result CloudTrail shows is one of our customers'
        "dynamodb:BatchGetItem",
        "aws-marketplace:BatchMeterUsage",
        "cloudtrail:LookupEvents",
        "lambda:InvokeFunction",
    }


def test_the_flush_may_invoke_only_itself_to_continue_a_backlog(template: Template) -> None:
    flush_id, _ = _function(template, "functions.handlers.flush.handler")
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": "lambda:InvokeFunction",
                            "Effect": "Allow",
                            "Resource": {"Fn::GetAtt": [flush_id, "Arn"]},
                        }
                    )
                ]
            }
        },
    )
