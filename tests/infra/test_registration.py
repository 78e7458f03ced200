"""Template assertions for the registration capability."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from tests.infra.conftest import actions, function_statements


def _registration_function(template: Template) -> tuple[str, Any]:
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "functions.handlers.registration.handler"}}
    )
    assert len(functions) == 1
    return next(iter(functions.items()))


def _policy_statements(template: Template, function_id: str) -> list[dict[str, Any]]:
    resources = template.to_json()["Resources"]
    return function_statements(resources, resources[function_id])


def test_the_function_is_arm64_python313_traced_with_its_settings(template: Template) -> None:
    _, function = _registration_function(template)
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    variables = properties["Environment"]["Variables"]
    assert {
        "CUSTOMERS_TABLE",
        "IDEMPOTENCY_TABLE",
        "PRODUCTS",
        "EVENT_BUS_NAME",
        "SIGNING_SECRET_ARN",
        "LIFECYCLE_QUEUE_URL",
    } <= set(variables)
    assert "SIGNING_SECRET" not in variables  # only the secret's ARN: the value is read at run time


def test_the_function_may_do_exactly_what_registration_needs(template: Template) -> None:
    function_id, _ = _registration_function(template)
    statements = _policy_statements(template, function_id)
    granted = actions(*statements)
    assert "aws-marketplace:ResolveCustomer" in granted
    assert "events:PutEvents" in granted
    assert "secretsmanager:GetSecretValue" in granted
    dynamodb = {a for a in granted if a.startswith("dynamodb:")}
    assert dynamodb == {
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    }
    assert not any(a.endswith("*") for a in granted)
    # a free-trial claim to check again later: a message to the lifecycle queue, and nothing else of SQS
    (queue_statement,) = [s for s in statements if any(a.startswith("sqs:") for a in actions(s))]
    assert actions(queue_statement) == {"sqs:SendMessage"}
    queue_id = queue_statement["Resource"]["Fn::GetAtt"][0]
    assert "LifecycleNotifications" in queue_id
    # on "*" only what cannot be scoped: ResolveCustomer, GetAgreementTerms and X-Ray tracing
    on_any_resource = actions(*(s for s in statements if s["Resource"] == "*"))
    assert on_any_resource == {
        "aws-marketplace:ResolveCustomer",
        "aws-marketplace:GetAgreementTerms",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_agreement_terms_are_readable_only_for_purchase_agreements_the_seller_proposed(template: Template) -> None:
    function_id, _ = _registration_function(template)
    statements = [
        s for s in _policy_statements(template, function_id) if "aws-marketplace:GetAgreementTerms" in actions(s)
    ]
    # one statement, with nothing else in it, under the conditions AWS's own grants of the action use
    assert len(statements) == 1
    (statement,) = statements
    assert actions(statement) == {"aws-marketplace:GetAgreementTerms"}
    assert statement["Effect"] == "Allow"
    assert statement["Condition"] == {
        "StringEquals": {"aws-marketplace:PartyType": "Proposer"},
        "ForAllValues:StringEquals": {"aws-marketplace:AgreementType": ["PurchaseAgreement"]},
    }


def test_the_register_routes_are_public_and_proxied_to_the_function(template: Template) -> None:
    resources = template.find_resources("AWS::ApiGateway::Resource")
    by_path = {r["Properties"]["PathPart"]: resource_id for resource_id, r in resources.items()}
    assert {"register", "complete"} <= set(by_path)
    for path in ("register", "complete"):
        for verb in ("POST", "GET"):
            template.has_resource_properties(
                "AWS::ApiGateway::Method",
                {
                    "HttpMethod": verb,
                    "ResourceId": {"Ref": by_path[path]},
                    "AuthorizationType": "NONE",
                    "Integration": Match.object_like({"Type": "AWS_PROXY"}),
                },
            )


def test_a_generated_signing_secret_and_an_event_bus_exist(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": Match.object_like({"PasswordLength": 64})},
    )
    template.resource_count_is("AWS::Events::EventBus", 1)


def test_the_fulfillment_url_is_an_output(template: Template) -> None:
    outputs = template.find_outputs("*")
    fulfillment = [o for name, o in outputs.items() if name.startswith("RegistrationFulfillmentUrl")]
    assert len(fulfillment) == 1
    assert "/register" in str(fulfillment[0]["Value"])
