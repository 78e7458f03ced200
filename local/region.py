"""A metering stack of another Region beside `make run`'s, as cdk.json `regions` deploys one
(``python -m local.region --region eu-west-1``, or ``make run REGIONS=eu-west-1``).

Its own usage API, usage and metering tables and flush, in a process of its own (a function's settings are its
process's environment, as in Lambda): buyers are checked against the main stack's customers table, which locally
stands for its replica in the Region (DynamoDB Local has no global tables), and BatchMeterUsage is signed for the
Region, so the emulator bills (and dedups) it there. It shares the main stack's DynamoDB Local, emulator and clock,
which it finds in the main stack's run file (.run/local.json).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import boto3

from functions.flush.customer import FINAL_USAGE_REQUESTS
from functions.settings import REGION_NAME, Settings, settings_environment, settings_from_env
from local.apigateway import LocalApiGateway, Route
from local.controls import (
    DEFAULT_FLUSH_INTERVAL,
    JSON_HEADER,
    ROOT,
    RUN_FILE,
    deployed_settings,
    every,
    json_response,
    refused,
    scheduled_event,
    stop_on_signals,
    wait_for_stop,
)
from local.lambda_service import LocalLambda
from local.loopback import read_banner
from local.tables import create_tables
from stacks.schema import REGIONAL_TABLES

# what a regional stack takes from the main one: where the shared parts listen, its buyers, its clock
_SHARED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DYNAMODB_ENDPOINT", "MARKETPLACE_ENDPOINT", "CLOCK_FILE")


class RegionError(ValueError):
    """The Region or the main stack's run file cannot be used; the message says why."""


def regional_settings(main_environment: Mapping[str, str], region: str, lambda_url: str | None = None) -> Settings:
    """cdk.json's settings (validated as the stack validates them) for a metering stack in ``region``: its own usage
    and metering tables, the main stack's customers table, the shared DynamoDB Local, emulator and clock (and its
    local Lambda service, ``lambda_url``, where it runs one)."""
    if not REGION_NAME.fullmatch(region):
        raise RegionError(f"--region: {region!r} is not a Region name such as eu-west-1")
    main = settings_from_env(main_environment)
    if region == main.region:
        raise RegionError(f"--region: {region} is the main stack's Region, which meters already")
    return replace(
        deployed_settings(),
        region=region,
        customers_table=main.customers_table,
        customers_replica=True,  # as deployed (locally the main stack's table itself: nothing to wait for)
        usage_table=f"{main.usage_table}-{region}",
        metering_table=f"{main.metering_table}-{region}",
        dynamodb_endpoint=main.dynamodb_endpoint,
        marketplace_endpoint=main.marketplace_endpoint,
        lambda_endpoint=lambda_url,
        clock_file=main.clock_file,
    )


def main_environment(run_file: Path) -> dict[str, str]:
    try:
        described: dict[str, Any] = json.loads(run_file.read_text())
    except (OSError, ValueError) as error:
        raise RegionError(f"no local stack described at {run_file} (start `make run` first): {error}") from None
    environment: dict[str, str] = described["environment"]
    return environment


@dataclass
class RegionalStack:
    settings: Settings
    api: LocalApiGateway
    lambdas: LocalLambda
    api_key: str

    def flush_now(self) -> Any:
        return self.lambdas.run("flush", scheduled_event())

    def answer_final_usage_requests(self) -> Any:
        """What the Region's second schedule does (every 5 minutes in AWS): send the leaving buyers' usage the main
        stack asked for, by a function of its own (in AWS too), never waiting for a flush run."""
        return self.lambdas.run("final_usage", {FINAL_USAGE_REQUESTS: True})


@contextmanager
def running(
    region: str, run_file: Path, *, host: str = "127.0.0.1", api_port: int = 0, flush_interval: float = 0
) -> Iterator[RegionalStack]:
    from functions.handlers import flush, usage

    shared = main_environment(run_file)
    with ExitStack() as stack:
        lambdas = stack.enter_context(LocalLambda({"flush": flush.handler, "final_usage": flush.handler}, host))
        settings = regional_settings(shared, region, lambdas.url)
        os.environ.update(
            {
                **{name: shared[name] for name in _SHARED if name in shared},
                "AWS_DEFAULT_REGION": region,
                "AWS_EC2_METADATA_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "MarketplaceMetering",
                **settings_environment(settings),
            }
        )
        dynamodb = boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=region)
        create_tables(dynamodb, settings, REGIONAL_TABLES)
        api_key = secrets.token_urlsafe(16)
        regional = RegionalStack(settings, LocalApiGateway([], host, api_port), lambdas, api_key)

        def flush_route(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return refused(event) or json_response(200, regional.flush_now())

        def final_usage_route(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return refused(event) or json_response(200, regional.answer_final_usage_requests())

        regional.api.routes.extend(
            [
                Route("POST", "/usage", usage.handler, api_key=api_key),
                Route("POST", "/_local/flush", flush_route),
                Route("POST", "/_local/final-usage", final_usage_route),
            ]
        )
        regional.api.start()
        stack.callback(regional.api.stop)
        stopped = threading.Event()
        stack.callback(stopped.set)
        if flush_interval > 0:
            every(flush_interval, regional.flush_now, stopped)
            every(flush_interval, regional.answer_final_usage_requests, stopped)
        yield regional


def banner(regional: RegionalStack, flush_interval: float) -> str:
    api = regional.api.url
    settings = regional.settings
    return f"""Regional metering stack {settings.region} is up (Ctrl-C stops it):
  Usage API             {api}/usage   (x-api-key: {regional.api_key})
  Tables                {settings.usage_table} {settings.metering_table}; buyers from {settings.customers_table}
  Flush                 every {flush_interval:g}s; now: curl -X POST {api}/_local/flush -H '{JSON_HEADER}'
  Final usage asked     every {flush_interval:g}s; now: curl -X POST {api}/_local/final-usage -H '{JSON_HEADER}'
"""


def _pass_on(lines: IO[str]) -> None:
    for line in lines:
        sys.stdout.write(line)


@contextmanager
def launched(regions: list[str], run_file: Path, flush_interval: float) -> Iterator[list[str]]:
    """Each Region's stack in a process of its own, beside the running main stack that ``run_file`` describes
    (``make run REGIONS=...``): their banners, once each is up; Ctrl-C to each on exit."""
    with ExitStack() as stack:
        banners = []
        for region in regions:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "local.region",
                    f"--region={region}",
                    f"--run-file={run_file}",
                    f"--flush-interval={flush_interval}",
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            stack.callback(process.wait, 60)
            stack.callback(process.send_signal, signal.SIGINT)
            assert process.stdout is not None
            banner = read_banner(process.stdout)
            if "is up" not in banner:
                raise RegionError(f"the {region} stack did not start: {banner or 'no output'}")
            banners.append(banner)
            # its functions' logs after the banner, passed on (a full pipe would stop the process)
            threading.Thread(target=_pass_on, args=(process.stdout,), daemon=True).start()
        yield banners


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.region", description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", required=True, help="the Region this metering stack stands for, e.g. eu-west-1")
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--flush-interval", type=float, default=DEFAULT_FLUSH_INTERVAL, help="seconds; 0: never")
    parser.add_argument("--run-file", type=Path, default=RUN_FILE, help="the main stack's")
    args = parser.parse_args(argv)
    stopped = threading.Event()
    stop_on_signals(stopped)
    try:
        with running(args.region, args.run_file, api_port=args.api_port, flush_interval=args.flush_interval) as up:
            print(banner(up, args.flush_interval), flush=True)
            wait_for_stop(stopped)
    except (RegionError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
