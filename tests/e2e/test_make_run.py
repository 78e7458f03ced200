"""`make run`'s program starts every part on loopback, prints where each listens, and Ctrl-C stops all."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import boto3

from tests.e2e.local_stack import launched


def test_the_local_stack_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    # Given free ports and no outside DynamoDB, When the local stack starts as `make run` starts it
    with launched(tmp_path / "local.json") as stack:
        # Then the emulator serves its demo product, and DynamoDB Local holds our tables
        with urllib.request.urlopen(f"{stack.url('Marketplace emulator')}/admin/products") as response:
            products = json.load(response)["products"]
        assert [p["code"] for p in products] == ["demo-saas-product"]
        tables = boto3.client("dynamodb", endpoint_url=stack.url("DynamoDB Local")).list_tables()["TableNames"]
        assert {"customers", "usage", "metering", "idempotency"} <= set(tables)
    # When Ctrl-C arrives, Then it stops cleanly and nothing keeps listening
    assert stack.process.returncode == 0, stack.output
    for port in stack.ports.values():
        probe = subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], capture_output=True)
        assert probe.returncode != 0, f"port {port} still accepts connections"
