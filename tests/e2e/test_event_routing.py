"""What `make run` delivers to the lifecycle handler is what the stack's rule lets through: the local stack routes
Marketplace's events by the template it synthesizes, on moto's EventBridge, so changing the rule's pattern in the stack
changes what reaches the handler. AWS's published examples are put on the stack's default bus as Marketplace puts
them; the stack's drain control answers once the lifecycle queue has nothing visible and nothing in hand."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import aws_events as events

import stacks.constructs.lifecycle as lifecycle_construct
from functions.lifecycle.notifications import LICENSE_DETAIL_TYPES, MARKETPLACE_SOURCE
from functions.settings import Product
from local.routing import synthesize
from tests.aws_corpus import Parties, eventbridge_example
from tests.e2e.local_stack import LaunchedStack, launched

OUR_PRODUCT = "demo-saas-product"  # cdk.json's
SELLER = "123456789012"
LICENCE_EVENT = "license_updated.json"
AGREEMENT_EVENT = "ended_proposer.json"


def put_on_the_bus(stack: LaunchedStack, *examples: str) -> None:
    """Marketplace's events on the stack's default bus in us-east-1, as AWS puts them there (PutEvents)."""
    client = boto3.client(
        "events",
        endpoint_url=stack.url("Event routing"),
        region_name="us-east-1",
        aws_access_key_id="AKIAMARKETPLACE",
        aws_secret_access_key="local-only",  # moto checks none
    )
    for name in examples:
        event = eventbridge_example(name, Parties(seller_account=SELLER, product_code=OUR_PRODUCT))
        entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
        assert client.put_events(Entries=[entry])["FailedEntryCount"] == 0


def drained(stack: LaunchedStack) -> dict[str, Any]:
    api = stack.url("Usage API").removesuffix("/usage")
    request = urllib.request.Request(
        f"{api}/_local/drain", data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def test_the_stacks_rule_decides_what_make_run_delivers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given the stack as this checkout synthesizes it: our licence events and every agreement event reach the handler
    with launched(tmp_path / "as-is.json", "--flush-interval=0") as stack:
        put_on_the_bus(stack, LICENCE_EVENT, AGREEMENT_EVENT)
        assert drained(stack) == {"delivered": 2, "failed": 0}

    # When the stack's licence rule matches another product's code instead of ours
    deployed = lifecycle_construct.marketplace_event_patterns

    def patterns(products: Sequence[Product]) -> dict[str, events.EventPattern]:
        found = deployed(products)
        found["LicenseEvents"] = events.EventPattern(
            source=[MARKETPLACE_SOURCE],
            detail_type=list(LICENSE_DETAIL_TYPES),
            detail={"product": {"code": ["someone-elses-product"]}},
        )
        return found

    monkeypatch.setattr(lifecycle_construct, "marketplace_event_patterns", patterns)
    changed = synthesize()
    templates = [tmp_path / f"changed-{number}.template.json" for number in range(len(changed))]
    for path, synthesized in zip(templates, changed, strict=True):
        path.write_text(json.dumps(synthesized))
    patterns_made = [
        r["Properties"]["EventPattern"]
        for t in changed
        for r in t["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]
    ]
    assert {"product": {"code": ["someone-elses-product"]}} in [p.get("detail") for p in patterns_made]

    # Then make run, routing by that template, delivers the agreement event and drops ours
    options = [f"--template={path}" for path in templates]
    with launched(tmp_path / "changed.json", "--flush-interval=0", *options) as stack:
        put_on_the_bus(stack, LICENCE_EVENT, AGREEMENT_EVENT)
        assert drained(stack) == {"delivered": 1, "failed": 0}
        put_on_the_bus(stack, LICENCE_EVENT)
        assert drained(stack) == {"delivered": 1, "failed": 0}
