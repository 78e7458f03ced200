"""The one place Logger, Tracer and Metrics are configured; every module imports them from here."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "marketplace-metering"
METRICS_NAMESPACE = "MarketplaceMetering"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
