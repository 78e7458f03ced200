"""AWS prices the cost figures use, written once: on-demand, us-east-1, USD, the first tier of each.

Date and source: the prices AWS published on the pages named beside each (DynamoDB's on-demand prices as reduced on
2024-11-01), as known on 2025-06; written down on 2026-12-05 on a machine without access to them, so check the pages
before quoting a figure: a changed price is one line here.
"""

from __future__ import annotations

PRICES_AS_OF = "2025-06 (written 2026-12-05, not re-checked)"
REGION = "us-east-1"

# https://aws.amazon.com/api-gateway/pricing/ : REST APIs, first 333 million requests a month
API_GATEWAY_REST_PER_MILLION_REQUESTS = 3.50
# https://aws.amazon.com/lambda/pricing/ : Arm (Graviton2), first 7.5 billion GB-seconds a month; requests
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
# https://aws.amazon.com/dynamodb/pricing/on-demand/ : write and read request units, Standard table class storage
DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625
DYNAMODB_PER_MILLION_READ_UNITS = 0.125
DYNAMODB_PER_GB_MONTH = 0.25
# https://aws.amazon.com/eventbridge/pricing/ : custom events published (PutEvents), per 64 KB chunk
EVENTBRIDGE_PER_MILLION_EVENTS = 1.00
# https://aws.amazon.com/cloudwatch/pricing/ : logs ingested (Standard), custom metrics (first 10,000 a month)
CLOUDWATCH_LOGS_PER_GB = 0.50
CLOUDWATCH_PER_METRIC_MONTH = 0.30

SOURCES = {
    "API Gateway": "https://aws.amazon.com/api-gateway/pricing/",
    "Lambda": "https://aws.amazon.com/lambda/pricing/",
    "DynamoDB": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "EventBridge": "https://aws.amazon.com/eventbridge/pricing/",
    "CloudWatch": "https://aws.amazon.com/cloudwatch/pricing/",
}
