"""`make run`'s program starts every part on loopback, prints where each listens, and Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3

from local.dynamodb import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_local_stack_starts_serves_and_stops_cleanly() -> None:
    # Given free ports and no outside DynamoDB
    ports = {name: free_port() for name in ("api", "marketplace", "dynamodb")}
    env = {k: v for k, v in os.environ.items() if k != "DYNAMODB_ENDPOINT"}
    # When the local stack starts as `make run` starts it
    process = subprocess.Popen(
        [sys.executable, "-m", "local.stack", *(f"--{name}-port={port}" for name, port in ports.items())],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = iter(process.stdout.readline, "\n")  # blocks until it prints where it listens, up to a blank line
        text = "".join(banner)
        assert "Local stack is up" in text, text
        urls = dict(re.findall(r"^\s+(DynamoDB Local|Marketplace emulator)\s+(http://\S+?)/?\s", text, re.M))
        # Then the emulator serves its demo product, and DynamoDB Local holds our tables
        with urllib.request.urlopen(f"{urls['Marketplace emulator']}/admin/products") as response:
            products = json.load(response)["products"]
        assert [p["code"] for p in products] == ["demo-saas-product"]
        tables = boto3.client("dynamodb", endpoint_url=urls["DynamoDB Local"]).list_tables()["TableNames"]
        assert {"customers", "usage", "metering", "idempotency"} <= set(tables)
    finally:
        # When Ctrl-C arrives
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    # Then it stops cleanly and nothing keeps listening
    assert process.returncode == 0, output
    for port in ports.values():
        probe = subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], capture_output=True)
        assert probe.returncode != 0, f"port {port} still accepts connections"
