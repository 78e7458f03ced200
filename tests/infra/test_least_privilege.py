"""Every function has a role of its own, no managed policy, logs only to its own log group, and nothing but the
actions AWS offers no resource-level permission for is granted on "*"."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

# AWS gives these no resource-level permissions: "*" is the only resource they take.
WILDCARD_ONLY = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "aws-marketplace:ResolveCustomer",
    "aws-marketplace:BatchMeterUsage",
    "aws-marketplace:GetEntitlements",
    # agreements have no ARN to grant on; AWS's own grants of it are on "*" (the registration construct says where)
    "aws-marketplace:GetAgreementTerms",
    # the flush's hourly reconciliation: LookupEvents takes no resource (CloudTrail's service authorization reference)
    "cloudtrail:LookupEvents",
}


def _our_functions(template: Template) -> dict[str, Any]:
    return dict(
        template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp(r"^functions\.")}}
        )
    )


def _statements_of(template: Template, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_each_function_has_its_own_role_without_managed_policies(template: Template) -> None:
    functions = _our_functions(template)
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(set(roles)) == len(functions) >= 4
    all_roles = template.find_resources("AWS::IAM::Role")
    for role_id in roles:
        assert "ManagedPolicyArns" not in all_roles[role_id]["Properties"], role_id


def test_wildcard_resources_carry_only_actions_without_resource_level_permissions(template: Template) -> None:
    for function in _our_functions(template).values():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        for statement in _statements_of(template, role_id):
            if statement["Resource"] == "*":
                assert _actions(statement) <= WILDCARD_ONLY, statement


def test_a_function_writes_logs_only_to_its_own_log_group(template: Template) -> None:
    for function in _our_functions(template).values():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        log_statements = [
            s for s in _statements_of(template, role_id) if any(a.startswith("logs:") for a in _actions(s))
        ]
        assert log_statements
        for statement in log_statements:
            assert _actions(statement) == {"logs:CreateLogStream", "logs:PutLogEvents"}
            assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
