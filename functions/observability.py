"""The one place Logger and Metrics are configured; every module imports them from here.

No Powertools Tracer: it is built on the AWS X-Ray SDK, in maintenance mode since 25 February 2026 and out of
support from 25 February 2027 (AWS recommends OpenTelemetry instead), and its import and botocore patching were
about a tenth of every cold start, the buyer's first page included (bench/cold_start.py). Lambda's active tracing
and API Gateway's (stacks/) still record each request and invocation in X-Ray without it; docs/operations.md says how
to add OpenTelemetry's spans of each AWS call.
"""

from aws_lambda_powertools import Logger, Metrics

SERVICE = "marketplace-metering"
METRICS_NAMESPACE = "MarketplaceMetering"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def for_stage(stage: str | None) -> None:
    """Tag this function's metrics with its stage, so stages in one account keep their series (and alarms) apart;
    the production stack, with no stage, keeps its series as they were. Called per invocation, with the settings."""
    if stage:
        metrics.set_default_dimensions(stage=stage)
