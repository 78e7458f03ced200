"""The one place Logger, Tracer and Metrics are configured; every module imports them from here."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "marketplace-metering"
METRICS_NAMESPACE = "MarketplaceMetering"

logger = Logger(service=SERVICE)
# Only the AWS SDK: our calls all go through it, and the X-Ray SDK's other patches (http.client, database drivers)
# would cost import time and, for http.client, trace each AWS call twice.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def for_stage(stage: str | None) -> None:
    """Tag this function's metrics with its stage, so stages in one account keep their series (and alarms) apart;
    the production stack, with no stage, keeps its series as they were. Called per invocation, with the settings."""
    if stage:
        metrics.set_default_dimensions(stage=stage)
