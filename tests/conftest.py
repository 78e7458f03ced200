"""Shared fixtures: loopback stand-ins for AWS. Nothing here can reach a real AWS endpoint."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import settings as hypothesis_settings

from functions.observability import metrics
from functions.settings import Settings, get_settings, settings_environment
from local.dynamodb import dynamodb_endpoint as local_dynamodb_endpoint
from local.marketplace.testing import EmulatorHandle
from local.tables import create_fresh_tables, delete_tables

# Properties are tested, never speed: a shared CI machine's pauses must not fail an example (Hypothesis's 200 ms
# deadline did, on a loaded two-core run)
hypothesis_settings.register_profile("no-deadline", deadline=None)
hypothesis_settings.load_profile("no-deadline")

# The emulator fixtures (marketplace_server per session, marketplace per test) for every test package.
pytest_plugins = ["local.marketplace.pytest_plugin"]

# Dummy credentials and region for every boto3 client the tests create; no request leaves loopback.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "test-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(autouse=True)
def no_metrics_of_an_earlier_test() -> None:
    """Powertools keeps metrics added and not yet flushed in one store per process, as Lambda's warm container does
    between invocations: a test that adds some (a leaving buyer's send) must not leave them in the next one's
    published values (a CI run read a RecordsFailed of 0 left by another test before its own 3)."""
    metrics.clear_metrics()


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """DynamoDB Local started for this test session, or the one DYNAMODB_ENDPOINT names."""
    with local_dynamodb_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def dynamodb(dynamodb_endpoint: str) -> Any:
    # the usage store writes with 16 threads: a connection each (botocore's default pool keeps 10)
    config = Config(max_pool_connections=32)
    return boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1", config=config)


@pytest.fixture
def settings(dynamodb: Any, dynamodb_endpoint: str) -> Iterator[Settings]:
    """Settings naming a fresh set of tables, created from the stack's own definitions for this test."""
    test_settings = create_fresh_tables(dynamodb, dynamodb_endpoint, "t")
    yield test_settings
    delete_tables(dynamodb, test_settings)


@pytest.fixture
def handler_environment(
    settings: Settings, marketplace: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Settings]]:
    """Point the handlers' own settings (read from the environment, as in Lambda) at this test's tables and the
    emulator: ``configure(products, NAME=value, ...)`` returns the settings the handlers will read."""

    def configure(products: list[dict[str, Any]], **variables: str) -> Settings:
        environment = {
            **settings_environment(replace(settings, marketplace_endpoint=marketplace.url)),
            "PRODUCTS": json.dumps(products),
            **variables,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return get_settings()

    yield configure
    get_settings.cache_clear()
