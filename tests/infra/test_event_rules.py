"""AWS's own published example events (tests/fixtures/aws) replayed through the EventBridge rules of every stack we
synthesize, matched by a real EventBridge pattern engine (moto's), not one of ours: every agreement event reaches the
queue (they carry no product), and so do the seller guide's other seller events (advisories, reminders, cancellation
requests, billing adjustments) and a type AWS adds later; licence events of our products do, licence events of other
products do not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from moto.events.models import EventPattern

from app import build_app
from functions.lifecycle.notifications import AGREEMENT_DETAIL_TYPES
from tests.aws_corpus import AGREEMENT_EXAMPLES, EVENTBRIDGE_EXAMPLES, LICENCE_EXAMPLES, Parties, eventbridge_example
from tests.infra.conftest import cdk_json_context

OUR_PRODUCT = "demo-saas-product"  # cdk.json's
SELLER = "123456789012"


def _stacks(tmp_path: Path, region: str) -> Iterator[tuple[str, Template]]:
    context = cdk_json_context()
    context["marketplace"] = {**context["marketplace"], "region": region}
    app = cdk.App(context=context, outdir=str(tmp_path / region))
    build_app(app)
    for stack in app.node.children:
        if isinstance(stack, cdk.Stack):
            yield f"{stack.stack_name} ({stack.region})", Template.from_stack(stack)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[EventPattern]]:
    """Every stack a seller may deploy (in us-east-1 alone; elsewhere with the us-east-1 forwarder), with the event
    patterns of its rules as CloudFormation would create them."""
    found: dict[str, list[EventPattern]] = {}
    for region in ("us-east-1", "eu-west-1"):
        for name, template in _stacks(tmp_path_factory.mktemp("rules"), region):
            rules = template.find_resources("AWS::Events::Rule")
            patterns = [r["Properties"]["EventPattern"] for r in rules.values() if "EventPattern" in r["Properties"]]
            if patterns:
                found[name] = [EventPattern.load(json.dumps(p)) for p in patterns]
    assert len(found) == 3  # main stack in us-east-1; main stack and forwarder elsewhere
    return found


def _routed(patterns: list[EventPattern], event: dict[str, Any]) -> bool:
    return any(pattern.matches_event(event) for pattern in patterns)  # type: ignore[arg-type]


def test_the_corpus_holds_every_published_example() -> None:
    assert len(EVENTBRIDGE_EXAMPLES) == 21
    assert set(AGREEMENT_EXAMPLES) | set(LICENCE_EXAMPLES) == set(EVENTBRIDGE_EXAMPLES)
    # an example of every type the seller guide lists for a seller (Created and Ended have the Manufacturer's too)
    published = {eventbridge_example(name)["detail-type"] for name in AGREEMENT_EXAMPLES}
    assert published == set(AGREEMENT_DETAIL_TYPES)


@pytest.mark.parametrize("example", AGREEMENT_EXAMPLES)
def test_every_agreement_event_reaches_the_queue_in_every_stack(
    stacks: dict[str, list[EventPattern]], example: str
) -> None:
    event = eventbridge_example(example, Parties(seller_account=SELLER))
    assert "code" not in event["detail"].get("product", {})  # as published: nothing to filter our products by
    for name, patterns in stacks.items():
        assert _routed(patterns, event), f"{example} dropped by {name}"


@pytest.mark.parametrize("example", LICENCE_EXAMPLES)
def test_licence_events_of_our_product_reach_the_queue_and_others_do_not(
    stacks: dict[str, list[EventPattern]], example: str
) -> None:
    ours = eventbridge_example(example, Parties(seller_account=SELLER, product_code=OUR_PRODUCT))
    theirs = eventbridge_example(example, Parties(seller_account=SELLER, product_code="someone-elses-product"))
    for name, patterns in stacks.items():
        assert _routed(patterns, ours), f"{example} dropped by {name}"
        assert not _routed(patterns, theirs), f"{example} of another product routed by {name}"


def test_other_sources_are_not_routed_and_a_type_aws_adds_later_is(stacks: dict[str, list[EventPattern]]) -> None:
    event = eventbridge_example("ended_proposer.json", Parties(seller_account=SELLER))
    for name, patterns in stacks.items():
        assert not _routed(patterns, {**event, "source": "aws.marketplacecatalog"}), name
        assert not _routed(patterns, {**event, "source": "aws.marketplacecatalog", "detail-type": "Offer Released"})
        # the handler counts it (UnknownMarketplaceEvents, alarmed) rather than the rule dropping it unseen
        assert _routed(patterns, {**event, "detail-type": "Purchase Agreement Something New - Proposer"}), name
