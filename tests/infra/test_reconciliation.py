"""The scheduled reconciliation in the template: a step of the hourly flush (no function or schedule of its own), its
one extra grant, its alarms and its dashboard widget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from tests.infra.conftest import actions, cdk_json_context, function_statements, synth

FLUSH = "functions.handlers.flush.handler"


def _flush_statements(template: Template) -> list[dict[str, Any]]:
    [flush] = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": FLUSH}}).values()
    return function_statements(template.to_json()["Resources"], flush)


def _lookup_grants(template: Template) -> list[dict[str, Any]]:
    return [s for s in _flush_statements(template) if "cloudtrail:LookupEvents" in actions(s)]


def test_the_flush_alone_may_read_cloudtrail_and_only_lookup_events(template: Template) -> None:
    # LookupEvents takes no resource-level permission: granted on "*" (CDK merges it with the flush's other
    # actions of that kind; test_least_privilege holds "*" to those)
    [grant] = _lookup_grants(template)
    assert (grant["Resource"], grant["Effect"]) == ("*", "Allow")
    cloudtrail = [
        (policy_id, action)
        for policy_id, policy in template.find_resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in sorted(actions(statement))
        if action.startswith("cloudtrail:")
    ]
    assert [action for _, action in cloudtrail] == ["cloudtrail:LookupEvents"]
    # no function or schedule of its own: the hourly flush runs it
    handlers = {f["Properties"]["Handler"] for f in template.find_resources("AWS::Lambda::Function").values()}
    assert not any("reconcil" in handler for handler in handlers)


def test_a_stage_that_never_bills_is_not_granted_cloudtrail(tmp_path: Path) -> None:
    marketplace = cdk_json_context()["marketplace"]
    _, dry_run = synth(tmp_path, {**marketplace, "metering_mode": "dry-run"})
    assert _lookup_grants(dry_run) == []


def test_mismatches_and_an_unreadable_cloudtrail_raise_alarms(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"].get("MetricName"): a["Properties"] for a in alarms.values()}
    for metric in ("ReconciliationMismatches", "ReconciliationUnavailable"):
        alarm = by_metric[metric]
        assert alarm["Namespace"] == "MarketplaceMetering"
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert alarm["TreatMissingData"] == "notBreaching"
        assert {"Name": "service", "Value": "marketplace-metering"} in alarm["Dimensions"]


def test_a_reconciliation_more_than_three_hours_behind_raises_an_alarm(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    (alarm,) = [
        a["Properties"] for a in alarms.values() if a["Properties"].get("MetricName") == "ReconciliationHoursBehind"
    ]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum",
        4,
        "GreaterThanOrEqualToThreshold",
    )


def test_the_dashboard_shows_the_mismatch_count(template: Template) -> None:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    assert "Reconciliation mismatches" in body
    assert "ReconciliationMismatches" in body
