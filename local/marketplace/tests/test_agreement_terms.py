"""GetAgreementTerms (AWS Marketplace Agreement Service) through an unmodified boto3 client, which speaks AWS JSON 1.0,
and through botocore's own Smithy RPC v2 CBOR serializer and parser: the terms of free-trial and paid agreements in
the model's shapes, paging, and every error the model lists with its status."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import prepare_request_dict
from botocore.credentials import Credentials
from botocore.endpoint import create_request_object
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ..model_validation import operation_model, output_violations

SERVICE = "marketplace-agreement"
OPERATION = "GetAgreementTerms"
TARGET = "AWSMPCommerceService_v20200301"
USAGE_PRODUCT = "terms-usage-product"
CONTRACT_PRODUCT = "terms-contract-product"
DIMENSIONS = ["api_calls", "storage_gb"]
CHANNEL_PARTNER = "999988887777"


@pytest.fixture
def env(marketplace: Any) -> Any:
    marketplace.admin.create_product(USAGE_PRODUCT, DIMENSIONS)
    marketplace.admin.create_product(CONTRACT_PRODUCT, ["seats"], pricing="contract")
    return marketplace


def kinds(terms: list[dict[str, Any]]) -> list[str]:
    # each AcceptedTerm is a union: exactly one kind per item
    assert all(len(term) == 1 for term in terms), terms
    return [next(iter(term)) for term in terms]


def term(terms: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [t[kind] for t in terms if kind in t]
    return dict(found)


def all_terms(client: Any, agreement_id: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("get_agreement_terms").paginate(agreementId=agreement_id)
    return [t for page in pages for t in page["acceptedTerms"]]


def test_a_free_trial_agreement_has_a_free_trial_term_beside_its_pricing_and_validity(env: Any) -> None:
    trial = env.admin.subscribe(USAGE_PRODUCT, "111122223333", free_trial=True)
    response = env.agreement().get_agreement_terms(agreementId=trial["agreement_id"])
    terms = response["acceptedTerms"]
    assert "nextToken" not in response
    assert kinds(terms) == ["legalTerm", "usageBasedPricingTerm", "validityTerm", "freeTrialPricingTerm"]
    free_trial = term(terms, "freeTrialPricingTerm")
    assert free_trial["type"] == "FreeTrialPricingTerm"
    assert free_trial["duration"] == "P30D"
    assert free_trial["id"].startswith("term-")
    # a subscription trial grants every dimension, without a cap (no maxQuantity: unlimited, per the model)
    assert free_trial["grants"] == [{"dimensionKey": d} for d in DIMENSIONS]
    pricing = term(terms, "usageBasedPricingTerm")
    assert (pricing["type"], pricing["currencyCode"]) == ("UsageBasedPricingTerm", "USD")
    assert [rate["dimensionKey"] for rate in pricing["rateCards"][0]["rateCard"]] == DIMENSIONS
    validity = term(terms, "validityTerm")
    assert validity["agreementStartDate"] == datetime.fromisoformat(trial["confirmed_at"].replace("Z", "+00:00"))
    assert validity["agreementEndDate"] > validity["agreementStartDate"]
    assert validity["agreementDuration"] == f"P{(validity['agreementEndDate'] - validity['agreementStartDate']).days}D"


def test_a_paid_agreement_has_no_free_trial_term(env: Any) -> None:
    paid = env.admin.subscribe(USAGE_PRODUCT, "111122223333")
    terms = env.agreement().get_agreement_terms(agreementId=paid["agreement_id"])["acceptedTerms"]
    assert kinds(terms) == ["legalTerm", "usageBasedPricingTerm", "validityTerm"]


def test_a_contract_lists_its_configured_dimensions_and_its_trial_caps_them(env: Any) -> None:
    entitlements = [{"dimension": "seats", "value": 20}]
    contract = env.admin.subscribe(CONTRACT_PRODUCT, "111122223333", entitlements=entitlements, free_trial=True)
    terms = all_terms(env.agreement(), contract["agreement_id"])
    assert kinds(terms) == ["legalTerm", "configurableUpfrontPricingTerm", "validityTerm", "freeTrialPricingTerm"]
    pricing = term(terms, "configurableUpfrontPricingTerm")
    assert pricing["configuration"]["dimensions"] == [{"dimensionKey": "seats", "dimensionValue": 20}]
    assert pricing["configuration"]["selectorValue"] == pricing["rateCards"][0]["selector"]["value"]
    assert term(terms, "freeTrialPricingTerm")["grants"] == [{"dimensionKey": "seats", "maxQuantity": 20}]


@pytest.mark.parametrize("product", [USAGE_PRODUCT, CONTRACT_PRODUCT])
@pytest.mark.parametrize("free_trial", [False, True])
def test_every_answer_is_in_the_models_output_shape(env: Any, product: str, free_trial: bool) -> None:
    # botocore ignores members it does not know: only a check against its own model finds a misnamed one
    sub = env.admin.subscribe(product, "111122223333", free_trial=free_trial)
    raw = raw_json(env.url, {"agreementId": sub["agreement_id"], "maxResults": 2})
    assert raw.status == 200
    assert output_violations(SERVICE, OPERATION, raw.body) == []
    assert output_violations(SERVICE, OPERATION, {"acceptedTerms": [{}], "unknown": 1}) != []  # the check checks


def test_terms_are_paged_with_a_next_token_bound_to_their_agreement(env: Any) -> None:
    trial = env.admin.subscribe(USAGE_PRODUCT, "111122223333", free_trial=True)
    client = env.agreement(max_attempts=1)
    paginator = client.get_paginator("get_agreement_terms")
    pages = list(paginator.paginate(agreementId=trial["agreement_id"], PaginationConfig={"PageSize": 1}))
    assert [len(page["acceptedTerms"]) for page in pages] == [1, 1, 1, 1]
    assert "nextToken" not in pages[-1]
    assert [t for page in pages for t in page["acceptedTerms"]] == all_terms(client, trial["agreement_id"])
    # the seller's page size cap applies whatever maxResults asks
    env.admin.put_config(agreement_terms_page_size=3)
    first = client.get_agreement_terms(agreementId=trial["agreement_id"], maxResults=50)
    assert len(first["acceptedTerms"]) == 3
    # a token is good for its own agreement only
    other = env.admin.subscribe(USAGE_PRODUCT, "444455556666")
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.get_agreement_terms(agreementId=other["agreement_id"], nextToken=first["nextToken"])
    assert caught.value.response["reason"] == "INVALID_NEXT_TOKEN"
    with pytest.raises(client.exceptions.ValidationException):
        client.get_agreement_terms(agreementId=trial["agreement_id"], nextToken="bm90LWEtdG9rZW4=")


@pytest.mark.parametrize("code", [shape.name for shape in operation_model(SERVICE, OPERATION).error_shapes])
def test_every_modelled_error_comes_with_the_models_status_and_class(env: Any, code: str) -> None:
    sub = env.admin.subscribe(USAGE_PRODUCT, "111122223333")
    env.admin.queue_errors({"operation": OPERATION, "code": code})
    client = env.agreement(max_attempts=1)
    with pytest.raises(getattr(client.exceptions, code)) as caught:
        client.get_agreement_terms(agreementId=sub["agreement_id"])
    shape = operation_model(SERVICE, OPERATION).service_model.shape_for(code)
    expected = shape.metadata["error"]["httpStatusCode"]
    assert {"ValidationException": 400, "AccessDeniedException": 403, "ResourceNotFoundException": 404,
            "ThrottlingException": 429, "InternalServerException": 500}[code] == expected  # fmt: skip
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == expected
    (call,) = env.admin.calls(operation=OPERATION)
    assert (call["http_status"], call["error_code"]) == (expected, code)


def test_errors_come_from_their_real_conditions_too(env: Any) -> None:
    client = env.agreement(max_attempts=1, parameter_validation=False)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as not_found:
        client.get_agreement_terms(agreementId="agmt-unknown")
    assert (not_found.value.response["resourceId"], not_found.value.response["resourceType"]) == (
        "agmt-unknown",
        "Agreement",
    )
    partner = env.admin.subscribe(USAGE_PRODUCT, "111122223333", proposer_account_id=CHANNEL_PARTNER)
    with pytest.raises(client.exceptions.AccessDeniedException) as denied:
        client.get_agreement_terms(agreementId=partner["agreement_id"])
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(client.exceptions.ValidationException) as invalid:
        client.get_agreement_terms(agreementId="a" * 65, maxResults=51)  # the model allows 64 and 50
    response = invalid.value.response
    assert response["reason"] == "INVALID_AGREEMENT_ID"
    assert {field["name"] for field in response["fields"]} == {"agreementId", "maxResults"}
    assert response["Error"]["Message"].startswith("2 validation errors detected: ")
    with pytest.raises(client.exceptions.ValidationException) as missing:
        client.get_agreement_terms()
    assert missing.value.response["reason"] == "MISSING_AGREEMENT_ID"


def test_quota_and_random_faults_apply_as_to_any_operation(env: Any) -> None:
    sub = env.admin.subscribe(USAGE_PRODUCT, "111122223333")
    client = env.agreement(max_attempts=1)
    env.admin.put_config(operation_quotas={OPERATION: {"per_second": 0, "burst": 0}})
    with pytest.raises(client.exceptions.ThrottlingException) as throttled:
        client.get_agreement_terms(agreementId=sub["agreement_id"])
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    env.admin.reset_config()
    # this service's server fault is InternalServerException (the metering model's is InternalServiceErrorException)
    env.admin.put_faults(internal_error_rate=1.0, operations=[OPERATION])
    with pytest.raises(client.exceptions.InternalServerException):
        client.get_agreement_terms(agreementId=sub["agreement_id"])


# -- the wire, both protocols the model lists ------------------------------------------------------------------------

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAEMULATORSELLER01/20261118/us-east-1/aws-marketplace/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000"
)


class Raw:
    def __init__(self, status: int, headers: dict[str, str], body: Any) -> None:
        self.status, self.headers, self.body = status, headers, body


def raw_json(url: str, params: dict[str, Any], operation: str = OPERATION) -> Raw:
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"{TARGET}.{operation}",
        "Authorization": AUTH,
    }
    request = urllib.request.Request(url + "/", data=json.dumps(params).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return Raw(response.status, dict(response.headers), json.loads(response.read()))
    except urllib.error.HTTPError as error:
        return Raw(error.code, dict(error.headers), json.loads(error.read()))


def test_json_1_0_is_answered_in_json_1_0_and_other_operations_are_unknown(env: Any) -> None:
    sub = env.admin.subscribe(USAGE_PRODUCT, "111122223333")
    answer = raw_json(env.url, {"agreementId": sub["agreement_id"]})
    assert (answer.status, answer.headers["Content-Type"]) == (200, "application/x-amz-json-1.0")
    assert isinstance(answer.body["acceptedTerms"][2]["validityTerm"]["agreementStartDate"], float)  # epoch seconds
    # the emulator serves the one operation a seller's registration needs; the rest are not pretended
    unknown = raw_json(env.url, {"agreementId": sub["agreement_id"]}, operation="DescribeAgreement")
    assert (unknown.status, unknown.body["__type"]) == (400, "UnknownOperationException")


def cbor_call(url: str, params: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    op = operation_model(SERVICE, OPERATION)
    request_dict = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, op)
    prepare_request_dict(request_dict, endpoint_url=url)
    request = create_request_object(request_dict)
    SigV4Auth(Credentials("AKIAEMULATORSELLER01", "secret"), "aws-marketplace", "us-east-1").add_auth(request)
    prepared = request.prepare()
    assert prepared.url.endswith(f"/service/{TARGET}/operation/{OPERATION}")
    raw = urllib.request.Request(prepared.url, data=prepared.body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(raw) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, dict(error.headers), error.read()
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": body}, op.output_shape
    )
    return status, headers, parsed


def test_smithy_rpc_v2_cbor_answers_the_same_terms_and_errors(env: Any) -> None:
    trial = env.admin.subscribe(USAGE_PRODUCT, "111122223333", free_trial=True)
    status, headers, parsed = cbor_call(env.url, {"agreementId": trial["agreement_id"], "maxResults": 2})
    assert (status, headers["Content-Type"], headers["smithy-protocol"]) == (200, "application/cbor", "rpc-v2-cbor")
    assert kinds(parsed["acceptedTerms"]) == ["legalTerm", "usageBasedPricingTerm"]
    status, _, rest = cbor_call(env.url, {"agreementId": trial["agreement_id"], "nextToken": parsed["nextToken"]})
    assert kinds(rest["acceptedTerms"]) == ["validityTerm", "freeTrialPricingTerm"]
    assert isinstance(rest["acceptedTerms"][0]["validityTerm"]["agreementStartDate"], datetime)  # CBOR tag 1
    status, _, error = cbor_call(env.url, {"agreementId": "agmt-unknown"})
    assert (status, error["Error"]["Code"]) == (404, "ResourceNotFoundException")
    env.admin.queue_errors({"operation": OPERATION, "code": "ThrottlingException"})
    status, _, error = cbor_call(env.url, {"agreementId": trial["agreement_id"]})
    assert (status, error["Error"]["Code"]) == (429, "ThrottlingException")
