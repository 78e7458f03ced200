"""Every function has a role of its own, no managed policy, logs only to its own log group, and nothing but the
actions AWS offers no resource-level permission for is granted on "*"."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from tests.infra.conftest import actions, function_statements

# AWS gives these no resource-level permissions: "*" is the only resource they take.
WILDCARD_ONLY = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "aws-marketplace:ResolveCustomer",
    "aws-marketplace:BatchMeterUsage",
    "aws-marketplace:GetEntitlements",
    # agreements have no ARN to grant on; AWS's own grants of it are on "*" (the registration construct says where)
    "aws-marketplace:GetAgreementTerms",
    # likewise (the IAM service authorization reference lists no resource type for the Agreement Service's actions)
    "aws-marketplace:GetAgreementEntitlements",
    # the flush's hourly reconciliation: LookupEvents takes no resource (CloudTrail's service authorization reference)
    "cloudtrail:LookupEvents",
}


def _our_functions(template: Template) -> dict[str, Any]:
    return dict(
        template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp(r"^functions\.")}}
        )
    )


def test_each_function_has_its_own_role_without_managed_policies(template: Template) -> None:
    functions = _our_functions(template)
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(set(roles)) == len(functions) >= 4
    all_roles = template.find_resources("AWS::IAM::Role")
    for role_id in roles:
        assert "ManagedPolicyArns" not in all_roles[role_id]["Properties"], role_id


def test_wildcard_resources_carry_only_actions_without_resource_level_permissions(template: Template) -> None:
    for function in _our_functions(template).values():
        for statement in function_statements(template.to_json()["Resources"], function):
            if statement["Resource"] == "*":
                assert actions(statement) <= WILDCARD_ONLY, statement


def test_a_function_writes_logs_only_to_its_own_log_group(template: Template) -> None:
    for function in _our_functions(template).values():
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        log_statements = [
            s
            for s in function_statements(template.to_json()["Resources"], function)
            if any(a.startswith("logs:") for a in actions(s))
        ]
        assert log_statements
        for statement in log_statements:
            assert actions(statement) == {"logs:CreateLogStream", "logs:PutLogEvents"}
            assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
