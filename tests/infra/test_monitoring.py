"""Alarms to one topic (e-mailed when configured), the dashboard, and the optional WAF."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match, Template

from tests.infra.conftest import cdk_json_context, synth


def _alarms(template: Template) -> Mapping[str, Mapping[str, Any]]:
    return template.find_resources("AWS::CloudWatch::Alarm")


def test_every_alarm_notifies_the_alarm_topic(template: Template) -> None:
    topics = template.find_resources("AWS::SNS::Topic")
    (topic_id,) = [k for k in topics if "AlarmTopic" in k]
    alarms = _alarms(template)
    assert alarms
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


def test_the_alarms_the_seller_needs_exist(template: Template) -> None:
    metrics = {
        (a["Properties"].get("Namespace"), a["Properties"].get("MetricName")) for a in _alarms(template).values()
    }
    for needed in [
        ("MarketplaceMetering", "RecordsFailed"),
        ("MarketplaceMetering", "RecordsUnprocessedAfterRetries"),
        ("MarketplaceMetering", "OldestUnsentHourAgeSeconds"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ]:
        assert needed in metrics, needed
    # one errors alarm per function, and one alarm on its throttles or, for the flush, on runs it gave up
    lambda_alarms = [a for a in _alarms(template).values() if a["Properties"].get("Namespace") == "AWS/Lambda"]
    assert len(lambda_alarms) == 2 * len(
        template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp("^functions\\.")}}
        )
    )
    # the 24-hour limit is approached, not reached, when the lag alarm fires (default 6 hours)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "OldestUnsentHourAgeSeconds", "Threshold": 6 * 3600}
    )


def _function_of(template: Template, handler: str) -> str:
    (function_id,) = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    return function_id


def _lambda_alarms_of(template: Template, function_id: str) -> dict[str, Mapping[str, Any]]:
    return {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in _alarms(template).values()
        if alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and alarm["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    }


def test_a_flush_run_waiting_for_the_one_before_is_no_alarm_but_a_run_given_up_is(template: Template) -> None:
    """The flush runs one at a time (reserved concurrency 1): a scheduled run, or a continuation invoked while its
    run is still finishing, is throttled and kept by Lambda's queue (up to 6 hours), by design. Its throttles would
    page the operator at every continuation; a run Lambda gives up (AsyncEventsDropped) is what must."""
    flush = _lambda_alarms_of(template, _function_of(template, "functions.handlers.flush.handler"))
    assert set(flush) == {"Errors", "AsyncEventsDropped"}
    assert flush["AsyncEventsDropped"]["Threshold"] == 1
    assert flush["AsyncEventsDropped"]["Statistic"] == "Sum"
    # a buyer's or a producer's request throttled is a refusal: those functions keep their throttles alarm
    for handler in ["functions.handlers.registration.handler", "functions.handlers.usage.handler"]:
        assert set(_lambda_alarms_of(template, _function_of(template, handler))) == {"Errors", "Throttles"}


def test_the_dashboard_shows_usage_metering_failures_duration_and_lag(template: Template) -> None:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    for title in ["Usage events received", "Records metered per hour", "Failures by reason", "Flush duration", "Lag"]:
        assert title in body


def _marketplace(**changes: Any) -> dict[str, Any]:
    marketplace: dict[str, Any] = cdk_json_context()["marketplace"]
    marketplace.update(changes)
    return marketplace


def test_no_email_subscription_and_no_waf_unless_configured(template: Template) -> None:
    template.resource_count_is("AWS::SNS::Subscription", 0)
    template.resource_count_is("AWS::WAFv2::WebACL", 0)


def test_email_and_waf_when_configured(tmp_path: Path) -> None:
    _, configured = synth(tmp_path, _marketplace(notification_email="ops@example.com", waf=True))
    configured.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    configured.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Scope": "REGIONAL",
            "Rules": Match.array_with(
                [
                    Match.object_like({"Name": "AWSManagedRulesCommonRuleSet"}),
                    Match.object_like({"Name": "RateLimitPerIp"}),
                ]
            ),
        },
    )
    configured.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)


def test_the_outputs_a_seller_needs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    for wanted in ["FulfillmentUrl", "UsageApiUrl", "EventBusName", "AlarmTopicArn"]:
        assert any(wanted in name for name in outputs), (wanted, sorted(outputs))
