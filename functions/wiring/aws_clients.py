"""AWS clients, created lazily on first use and cached per settings; tests pass their own instead."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from functions.settings import Settings

# a pooled connection for each flush worker at the highest rate allowed (functions.flush.service.workers_for: 160),
# plus room; a connection is opened only when needed. A literal: registration's cold start must not import the flush.
FLUSH_CONNECTIONS = 176

# Retries of our own (jittered backoff, never a changed quantity) are made by the callers that need them;
# botocore's standard mode covers the rest.
STANDARD_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
# The usage store writes with 16 threads and the flush's workers write outcomes: one pooled connection each.
# Tight timeouts bound how late a usage write can land: 3 tries x (2 s + 10 s) plus backoff stays well inside
# what functions.usage.model.WRITE_START_DEADLINE leaves of the 60 s in-flight margin.
# DynamoDB validates every request itself (a bad one is a ValidationException all the same); botocore's own check
# of each request against the model is a quarter of a usage write's client CPU, so it is left to the server.
DYNAMODB_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=10,
    max_pool_connections=FLUSH_CONNECTIONS,
    parameter_validation=False,
)
# botocore reads retries["max_attempts"] as retries after the first try; total_max_attempts=1 is truly one try.
# A pooled connection per flush worker. Marketplace validates every request itself (a record it refuses is a
# ValidationException, and its batch is halved until that record stands alone, as botocore's refusal was); botocore's
# own check of a call's 25 records against the model took 0.2 ms of each call, about 5% of the flush's CPU.
NO_RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=5,
    read_timeout=20,
    max_pool_connections=FLUSH_CONNECTIONS,
    parameter_validation=False,
)
# ResolveCustomer runs while the buyer waits (29 s at most): short timeouts, and the resolver's own retries, bounded by
# the invocation's remaining time (functions.marketplace.customers)
RESOLVE_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
# GetAgreementTerms runs while the buyer waits for the registration page, and without an answer the registration goes
# on (the free trial stays a claim): two quick tries at most, about 15 s in the worst case.
AGREEMENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5)


@cache
def dynamodb_client(settings: Settings) -> Any:
    return boto3.client(
        "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint, config=DYNAMODB_CONFIG
    )


@cache
def metering_client(settings: Settings) -> Any:
    """Marketplace Metering without botocore retries: the metering code decides what is safe to resend."""
    return boto3.client(
        "meteringmarketplace",
        region_name=settings.region,
        endpoint_url=settings.marketplace_endpoint,
        config=NO_RETRY_CONFIG,
    )


@cache
def resolve_client(settings: Settings) -> Any:
    """Marketplace Metering for ResolveCustomer: no botocore retries (the resolver's own are bounded by time)."""
    return boto3.client(
        "meteringmarketplace",
        region_name=settings.region,
        endpoint_url=settings.marketplace_endpoint,
        config=RESOLVE_CONFIG,
    )


@cache
def entitlement_client(settings: Settings) -> Any:
    # GetEntitlements exists only in us-east-1
    return boto3.client(
        "marketplace-entitlement",
        region_name="us-east-1",
        endpoint_url=settings.entitlement_endpoint or settings.marketplace_endpoint,
        config=STANDARD_CONFIG,
    )


@cache
def agreement_client(settings: Settings) -> Any:
    # the Agreement Service answers only in us-east-1 (seller guide, "Supported AWS Regions for the AWS Marketplace
    # Agreement API"), wherever the stack runs
    return boto3.client(
        "marketplace-agreement",
        region_name="us-east-1",
        endpoint_url=settings.marketplace_endpoint,
        config=AGREEMENT_CONFIG,
    )


@cache
def events_client(settings: Settings) -> Any:
    return boto3.client("events", region_name=settings.region, config=STANDARD_CONFIG)


@cache
def lambda_client(settings: Settings) -> Any:
    # the flush invokes itself to continue a backlog
    return boto3.client(
        "lambda", region_name=settings.region, endpoint_url=settings.lambda_endpoint, config=STANDARD_CONFIG
    )


@cache
def cloudtrail_client(settings: Settings) -> Any:
    # the flush's hourly audit reads CloudTrail's event history (LookupEvents); locally the emulator answers it
    return boto3.client(
        "cloudtrail", region_name=settings.region, endpoint_url=settings.marketplace_endpoint, config=STANDARD_CONFIG
    )


@cache
def sqs_client(settings: Settings) -> Any:
    return boto3.client("sqs", region_name=settings.region, endpoint_url=settings.sqs_endpoint, config=STANDARD_CONFIG)


def clear_clients() -> None:
    """Forget every client made (a SnapStart copy must not reuse the snapshot's connections and credentials)."""
    for factory in (
        dynamodb_client,
        metering_client,
        resolve_client,
        entitlement_client,
        agreement_client,
        events_client,
        lambda_client,
        sqs_client,
        cloudtrail_client,
    ):
        factory.cache_clear()
