"""CloudWatch on moto for the local stack: the synthesized template's alarms, made under their logical ids, and the
metrics Lambda publishes for every invocation (``AWS/Lambda`` ``Invocations``, ``Errors``, ``Duration`` by
``FunctionName``), put by the local Lambda service on the stack's clock. ``cli doctor`` reads both as it reads them on
AWS. Locally nothing evaluates the alarms (moto does not): they stay ``OK`` until someone sets their state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from functions.clock import Clock

LAMBDA_NAMESPACE = "AWS/Lambda"
# the alarm's properties moto takes as CloudFormation gives them (its metric, possibly as metric math)
_ALARM_PROPERTIES = (
    "ComparisonOperator",
    "EvaluationPeriods",
    "Threshold",
    "MetricName",
    "Namespace",
    "Statistic",
    "Period",
    "TreatMissingData",
    "AlarmDescription",
    "Dimensions",
    "Metrics",
)


@dataclass(frozen=True)
class AlarmSpec:
    name: str  # the logical id (CloudFormation would generate a name from it)
    properties: dict[str, Any]


def literal(value: Any) -> Any:
    """A template value with its intrinsic functions made local literals: a Ref is the logical id it names, a GetAtt
    ``Logical.Attribute``, a Join its joined parts (no alarm is evaluated here: only its shape matters)."""
    if isinstance(value, list):
        return [literal(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return str(value["Ref"])
    if "Fn::GetAtt" in value:
        return ".".join(str(part) for part in value["Fn::GetAtt"])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(str(literal(part)) for part in parts)
    return {key: literal(v) for key, v in value.items()}


def alarm_specs(templates: Iterable[dict[str, Any]]) -> list[AlarmSpec]:
    return [
        AlarmSpec(logical, {k: literal(v) for k, v in resource["Properties"].items() if k in _ALARM_PROPERTIES})
        for template in templates
        for logical, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
    ]


def provision_alarms(cloudwatch: Any, alarms: Iterable[AlarmSpec]) -> None:
    for alarm in alarms:
        properties = dict(alarm.properties)
        for number in ("EvaluationPeriods", "Period"):
            if number in properties:
                properties[number] = int(properties[number])
        if "Threshold" in properties:
            properties["Threshold"] = float(properties["Threshold"])
        cloudwatch.put_metric_alarm(AlarmName=alarm.name, **properties)


class InvocationMetrics:
    """What Lambda publishes for each invocation, published for the local Lambda service's functions."""

    def __init__(self, cloudwatch: Any, clock: Clock) -> None:
        self._cloudwatch = cloudwatch
        self._clock = clock

    def __call__(self, function_name: str, failed: bool, duration_ms: float) -> None:
        dimensions = [{"Name": "FunctionName", "Value": function_name}]
        moment = self._clock.now()
        self._cloudwatch.put_metric_data(
            Namespace=LAMBDA_NAMESPACE,
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": moment, "Value": 1.0},
                {"MetricName": "Errors", "Dimensions": dimensions, "Timestamp": moment, "Value": float(failed)},
                {
                    "MetricName": "Duration",
                    "Dimensions": dimensions,
                    "Timestamp": moment,
                    "Value": duration_ms,
                    "Unit": "Milliseconds",
                },
            ],
        )
