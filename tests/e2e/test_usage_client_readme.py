"""README's producer-client example, exactly as printed there, runs against the local stack started as `make run`
starts it, and the units it sends are stored once: the example cannot rot."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from local.marketplace.admin import AdminClient
from operations.cli import main as cli
from tests.e2e.local_stack import launched
from tests.usage_table import event_items

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = "demo-saas-product"
BUYER = "444455556666"
SECTION = "### Sending usage from Python"
T = TypeVar("T")


def readme_example() -> str:
    """The first Python block of README's section on the producer client."""
    readme = (ROOT / "README.md").read_text()
    assert SECTION in readme, f"README lost its {SECTION!r} section"
    found = re.search(r"```python\n(.*?)```", readme[readme.index(SECTION) :], re.S)
    assert found, "the section shows its example in a ```python block"
    return found.group(1)


def eventually(observe: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll observable state until ``done`` (the lifecycle notification is delivered asynchronously), bounded."""
    deadline = time.monotonic() + 30
    while True:
        value = observe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: still {value!r}"
        time.sleep(0.1)


def post_form(url: str, fields: dict[str, str]) -> str:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.read().decode())


def test_the_readme_example_sends_usage_to_make_runs_stack_which_serves_the_openapi_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_file = tmp_path / ".run" / "local.json"  # where `make run` writes it, relative to where the example runs
    with launched(run_file, "--flush-interval=0") as stack:
        api = stack.url("Usage API").removesuffix("/usage")
        # Given a buyer who subscribed and registered (the browser's two form posts)
        subscription = AdminClient(stack.url("Marketplace emulator")).subscribe(PRODUCT, BUYER)
        page = post_form(f"{api}/register", {"x-amzn-marketplace-token": subscription["registration_token"]})
        found = re.search(r'name="registration" value="([^"]+)"', page)
        assert found, page
        fields = {"registration": found.group(1), "company": "Producer Ltd", "contact_name": "Ada", "email": "a@b.co"}
        post_form(f"{api}/register/complete", fields)

        def customers() -> Any:
            out, err = io.StringIO(), io.StringIO()
            status = cli(
                ["customers", "--product", PRODUCT, "--json", "--run-file", str(run_file)], out=out, err=err, environ={}
            )
            assert status == 0, err.getvalue()
            return json.loads(out.getvalue())

        eventually(customers, lambda rows: [r["state"] for r in rows] == ["active"], "customer state")

        # And the stack serves the API's OpenAPI document, pointed at itself and its local key
        with urllib.request.urlopen(f"{api}/_local/openapi.json", timeout=30) as response:
            served = json.load(response)
        shipped = json.loads((ROOT / "docs" / "openapi.json").read_text())
        assert served["paths"].keys() == shipped["paths"].keys()
        assert served["servers"][0]["url"] == api
        assert served["paths"]["/usage"]["post"]["security"] == [{"localApiKey": []}]

        # When README's example runs as printed, from where `make run` was started
        monkeypatch.chdir(tmp_path)
        example = readme_example()
        namespace: dict[str, Any] = {"LICENSE": subscription["license_arn"], "BUYER": BUYER}
        exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 (README's own example)

        # Then the units it sent are stored once, for that buyer
        environment = json.loads(run_file.read_text())["environment"]
        dynamodb = boto3.client("dynamodb", endpoint_url=environment["DYNAMODB_ENDPOINT"], region_name="us-east-1")
        items = event_items(dynamodb, environment["USAGE_TABLE"])
        sent = re.search(r'usage_event\("demo-saas-product", "api_calls", (\d+)', example)
        assert sent, example
        assert [(i["l"]["S"], Decimal(i["q"]["S"])) for i in items] == [
            (subscription["license_arn"], Decimal(sent.group(1)))
        ]
    assert stack.process.returncode == 0, stack.output
