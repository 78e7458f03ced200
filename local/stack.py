"""`make run`: the whole integration on loopback — DynamoDB Local with our tables and the Marketplace
emulator with a demo product — printing where each part listens. Ctrl-C stops everything.

Later capabilities (API routes, the flush schedule, lifecycle delivery) attach here to the same parts.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from functions.settings import Settings, settings_from_env
from local.dynamodb import DynamoDBLocal, DynamoDBLocalError
from local.marketplace.demo import seed_demo
from local.marketplace.server import EmulatorServer
from local.tables import create_tables

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LocalStack:
    settings: Settings
    dynamodb_endpoint: str
    marketplace: EmulatorServer
    api_url: str


def _products_from_cdk_json() -> str:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]["marketplace"]
    return json.dumps(context["products"])


def local_environment(dynamodb_endpoint: str, marketplace_url: str) -> dict[str, str]:
    """The environment the Lambda handlers read their settings from, pointed at the loopback stand-ins."""
    return {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIALOCALSTACKSELLER",
        "AWS_SECRET_ACCESS_KEY": "local-only",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MarketplaceMetering",
        "CUSTOMERS_TABLE": "customers",
        "USAGE_TABLE": "usage",
        "METERING_TABLE": "metering",
        "IDEMPOTENCY_TABLE": "idempotency",
        "PRODUCTS": _products_from_cdk_json(),
        "DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "MARKETPLACE_ENDPOINT": marketplace_url,
        "SIGNING_SECRET": secrets.token_urlsafe(32),
    }


@contextmanager
def running(
    *, host: str = "127.0.0.1", api_port: int = 3000, marketplace_port: int = 3001, dynamodb_port: int = 8000
) -> Iterator[LocalStack]:
    """Start every part; stop them all on exit, whatever happened."""
    with ExitStack() as stack:
        external = os.environ.get("DYNAMODB_ENDPOINT")
        endpoint = external or stack.enter_context(DynamoDBLocal(dynamodb_port)).endpoint
        api_url = f"http://{host}:{api_port}"
        marketplace = EmulatorServer(host=host, port=marketplace_port)
        seed_demo(marketplace.marketplace, fulfillment_url=f"{api_url}/register")
        stack.enter_context(marketplace)
        os.environ.update(local_environment(endpoint, marketplace.url))
        settings = settings_from_env(os.environ)
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint, region_name=settings.region), settings)
        yield LocalStack(settings=settings, dynamodb_endpoint=endpoint, marketplace=marketplace, api_url=api_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--marketplace-port", type=int, default=3001)
    parser.add_argument("--dynamodb-port", type=int, default=8000)
    args = parser.parse_args(argv)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        with running(
            api_port=args.api_port, marketplace_port=args.marketplace_port, dynamodb_port=args.dynamodb_port
        ) as local:
            print("Local stack is up (Ctrl-C stops everything):", flush=True)
            print(f"  DynamoDB Local        {local.dynamodb_endpoint}  tables: customers usage metering idempotency")
            print(f"  Marketplace emulator  {local.marketplace.url}/   (buyer page; admin API under /admin/)")
            print(f"  API (fulfillment URL) {local.api_url}/register", flush=True)
            stopped.wait()
    except (DynamoDBLocalError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
