"""Template assertions: the Marketplace rule and legacy topics into one encrypted queue with a DLQ, the handler with
partial batch failures and only the permissions it uses, and the us-east-1 forwarder when deployed elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template

from app import build_app
from functions.lifecycle.notifications import LICENSE_DETAIL_TYPES
from tests.infra.conftest import actions, cdk_json_context, function_statements, synth

HANDLER = "functions.handlers.lifecycle.handler"


def _function(template: Template) -> tuple[str, Mapping[str, Any]]:
    found = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}})
    assert len(found) == 1
    return next(iter(found.items()))


def _statements(template: Template, function_id: str) -> list[dict[str, Any]]:
    resources = template.to_json()["Resources"]
    return function_statements(resources, resources[function_id])


def _with_products(products: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    marketplace: dict[str, Any] = {**cdk_json_context()["marketplace"], "products": products, **extra}
    return marketplace


def test_every_event_but_licence_events_and_licence_events_of_our_products_go_to_the_queue(template: Template) -> None:
    # agreement events name no product: a rule filtering on one would drop them; and a type AWS adds must reach the
    # handler, which counts it (tests/infra/test_event_rules.py replays AWS's own examples through these patterns)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.agreement-marketplace"],
                "detail-type": [{"anything-but": list(LICENSE_DETAIL_TYPES)}],
            },
            "Targets": Match.array_with([Match.object_like({"Arn": Match.any_value()})]),
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.agreement-marketplace"],
                "detail-type": list(LICENSE_DETAIL_TYPES),
                "detail": {"product": {"code": ["demo-saas-product"]}},
            },
            "Targets": Match.array_with([Match.object_like({"Arn": Match.any_value()})]),
        },
    )


def test_the_queue_is_encrypted_ssl_only_and_dead_letters_after_retries(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    notifications = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert len(notifications) == 1
    assert notifications[0]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    assert notifications[0]["Properties"]["VisibilityTimeout"] == 720
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_the_handler_reports_partial_batch_failures(template: Template) -> None:
    function_id, function = _function(template)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"FunctionName": {"Ref": function_id}, "FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10},
    )
    variables = function["Properties"]["Environment"]["Variables"]
    assert {"LIFECYCLE_QUEUE_URL", "EVENT_BUS_NAME", "CUSTOMERS_TABLE", "IDEMPOTENCY_TABLE"} <= set(variables)
    assert function["Properties"]["Architectures"] == ["arm64"]
    assert function["Properties"]["Runtime"] == "python3.13"


def test_the_handler_may_do_only_what_it_does(template: Template) -> None:
    function_id, _ = _function(template)
    statements = _statements(template, function_id)
    granted = actions(*statements)
    assert {"aws-marketplace:GetEntitlements", "aws-marketplace:BatchMeterUsage", "events:PutEvents"} <= granted
    assert {"dynamodb:BatchGetItem", "dynamodb:UpdateItem", "sqs:SendMessage", "sqs:DeleteMessage"} <= granted
    assert not {a for a in granted if a.endswith("*") and a != "xray:*"}
    forbidden = {"dynamodb:Scan", "dynamodb:DeleteTable", "aws-marketplace:ResolveCustomer", "dynamodb:PutItem"}
    # PutItem only on the idempotency table (Powertools' own records)
    put_items = [s for s in statements if "dynamodb:PutItem" in actions(s)]
    assert len(put_items) == 1
    assert not (forbidden - {"dynamodb:PutItem"}) & granted
    on_star = [s for s in statements if s["Resource"] == "*"]
    assert actions(*on_star) - {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} == {
        "aws-marketplace:GetEntitlements",
        "aws-marketplace:BatchMeterUsage",
        # a free-trial claim checked again: only for purchase agreements the seller proposed
        "aws-marketplace:GetAgreementTerms",
        # an agreement event naming no registered buyer: its licence, only of purchase agreements
        "aws-marketplace:GetAgreementEntitlements",
    }
    (terms,) = [s for s in statements if "aws-marketplace:GetAgreementTerms" in actions(s)]
    assert actions(terms) == {"aws-marketplace:GetAgreementTerms"}
    assert terms["Condition"] == {
        "StringEquals": {"aws-marketplace:PartyType": "Proposer"},
        "ForAllValues:StringEquals": {"aws-marketplace:AgreementType": ["PurchaseAgreement"]},
    }
    (entitlements,) = [s for s in statements if "aws-marketplace:GetAgreementEntitlements" in actions(s)]
    assert actions(entitlements) == {"aws-marketplace:GetAgreementEntitlements"}
    assert entitlements["Condition"] == {
        "ForAllValues:StringEquals": {"aws-marketplace:AgreementType": ["PurchaseAgreement"]}
    }
    # the seller's Agreement Service writes (refunds, cancellations) are the operator's, never the function's
    assert not {a for a in granted if a.startswith("aws-marketplace:") and not a.startswith("aws-marketplace:Get")} - {
        "aws-marketplace:BatchMeterUsage"
    }


def test_legacy_products_subscribe_the_queue_to_both_marketplace_topics(tmp_path: Path) -> None:
    product = {"code": "legacy-code-1", "name": "Legacy", "dimensions": [{"name": "api_calls"}], "legacy_sns": True}
    _, template = synth(tmp_path, _with_products([product]))
    for topic in ("subscription", "entitlement"):
        template.has_resource_properties(
            "AWS::SNS::Subscription",
            {
                "Protocol": "sqs",
                "TopicArn": f"arn:aws:sns:us-east-1:287250355862:aws-mp-{topic}-notification-legacy-code-1",
            },
        )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"detail": {"product": {"code": ["legacy-code-1"]}}})},
    )


def test_outside_us_east_1_a_forwarder_stack_sends_the_events_to_the_main_region(tmp_path: Path) -> None:
    context = cdk_json_context()
    context["marketplace"] = {**context["marketplace"], "region": "eu-west-1"}
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    main = build_app(app)
    app.synth()  # cdk-nag runs on both stacks
    forwarders = [s for s in app.node.children if isinstance(s, cdk.Stack) and s is not main]
    assert len(forwarders) == 1
    assert forwarders[0].region == "us-east-1"
    assert main.region == "eu-west-1"
    forwarder = Template.from_stack(forwarders[0])
    rules = [r["Properties"] for r in forwarder.find_resources("AWS::Events::Rule").values()]
    assert len(rules) == 2
    for rule in rules:
        assert rule["EventPattern"]["source"] == ["aws.agreement-marketplace"]
        target = rule["Targets"][0]
        assert "eu-west-1" in str(target["Arn"])
        assert ":event-bus/default" in str(target["Arn"])
        assert "DeadLetterConfig" in target


def test_in_us_east_1_there_is_no_forwarder(tmp_path: Path) -> None:
    context = cdk_json_context()
    context["marketplace"] = {**context["marketplace"], "region": "us-east-1"}
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    build_app(app)
    assert len([s for s in app.node.children if isinstance(s, cdk.Stack)]) == 1
