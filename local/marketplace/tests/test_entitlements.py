"""GetEntitlements: values, filters, paging (with an empty page that still has a NextToken), both protocols."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ..model_validation import operation_model
from .helpers import NOW, iso


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    marketplace.product("contract-product", ["seats", "tier", "sso"], pricing="contract")
    return marketplace


def _world(env):
    a = env.admin.subscribe(
        "contract-product",
        "111122223333",
        entitlements=[
            {"dimension": "seats", "value": 10, "expiration_date": "2027-11-18T00:00:00Z"},
            {"dimension": "tier", "value": "gold"},
        ],
    )
    b = env.admin.subscribe("contract-product", "444455556666", entitlements=[{"dimension": "sso", "value": True}])
    return a, b


def _all_pages(client, **params):
    pages = []
    token = None
    while True:
        kwargs = dict(params, **({"NextToken": token} if token else {}))
        page = client.get_entitlements(**kwargs)
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages


def test_values_and_shapes(env):
    a, b = _world(env)
    entitlements = env.entitlement().get_entitlements(ProductCode="contract-product")["Entitlements"]
    by_dim = {e["Dimension"]: e for e in entitlements}
    assert by_dim["seats"]["Value"] == {"IntegerValue": 10}
    assert by_dim["seats"]["ExpirationDate"] == datetime.fromisoformat("2027-11-18T00:00:00+00:00")
    assert by_dim["tier"]["Value"] == {"StringValue": "gold"}
    assert by_dim["sso"]["Value"] == {"BooleanValue": True}
    assert by_dim["seats"]["LicenseArn"] == a["license_arn"]
    assert by_dim["sso"]["CustomerAWSAccountId"] == b["account_id"]
    assert all(e["ProductCode"] == "contract-product" for e in entitlements)


def test_contract_without_explicit_terms_gets_one_unit_per_dimension(env):
    env.admin.subscribe("contract-product", "111122223333")
    entitlements = env.entitlement().get_entitlements(ProductCode="contract-product")["Entitlements"]
    assert sorted(e["Dimension"] for e in entitlements) == ["seats", "sso", "tier"]
    assert all(e["Value"] == {"IntegerValue": 1} and "ExpirationDate" in e for e in entitlements)


def test_paging_with_an_empty_page_that_carries_a_next_token(env):
    _world(env)
    pages = _all_pages(env.entitlement(), ProductCode="contract-product", MaxResults=1)
    sizes = [len(p["Entitlements"]) for p in pages]
    assert sizes == [1, 1, 0, 1]
    assert "NextToken" in pages[2]
    dims = sorted(e["Dimension"] for p in pages for e in p["Entitlements"])
    assert dims == ["seats", "sso", "tier"]


def test_empty_pages_can_be_switched_off_or_randomised(env):
    _world(env)
    env.admin.put_config(entitlement_empty_page_every=0)
    client = env.entitlement()
    assert [len(p["Entitlements"]) for p in _all_pages(client, ProductCode="contract-product", MaxResults=2)] == [2, 1]
    env.admin.put_faults(empty_page_rate=1.0, seed=1)
    page = client.get_entitlements(ProductCode="contract-product")
    assert page["Entitlements"] == []
    assert page["NextToken"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"CUSTOMER_AWS_ACCOUNT_ID": ["111122223333"]}, ["seats", "tier"]),
        ({"DIMENSION": ["seats", "sso"]}, ["seats", "sso"]),
        ({"CUSTOMER_AWS_ACCOUNT_ID": ["111122223333"], "DIMENSION": ["sso", "tier"]}, ["tier"]),
        ({"CUSTOMER_AWS_ACCOUNT_ID": ["000000000000"]}, []),
    ],
)
def test_filters(env, filters, expected):
    _world(env)
    entitlements = env.entitlement().get_entitlements(ProductCode="contract-product", Filter=filters)["Entitlements"]
    assert sorted(e["Dimension"] for e in entitlements) == expected


def test_license_arn_filter(env):
    a, _ = _world(env)
    result = env.entitlement().get_entitlements(
        ProductCode="contract-product", Filter={"LICENSE_ARN": [a["license_arn"]]}
    )
    assert {e["LicenseArn"] for e in result["Entitlements"]} == {a["license_arn"]}


def test_legacy_products_filter_by_customer_identifier(env):
    env.product("legacy-contract", ["seats"], pricing="contract", customer_mode="legacy")
    sub = env.admin.subscribe("legacy-contract", "111122223333", entitlements=[{"dimension": "seats", "value": 3}])
    client = env.entitlement()
    result = client.get_entitlements(
        ProductCode="legacy-contract", Filter={"CUSTOMER_IDENTIFIER": [sub["customer_identifier"]]}
    )
    (entitlement,) = result["Entitlements"]
    assert entitlement["CustomerIdentifier"] == sub["customer_identifier"]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_entitlements(
            ProductCode="legacy-contract",
            Filter={"CUSTOMER_IDENTIFIER": [sub["customer_identifier"]], "CUSTOMER_AWS_ACCOUNT_ID": ["111122223333"]},
        )


def test_invalid_parameters(env):
    _world(env)
    client = env.entitlement(parameter_validation=False, max_attempts=1)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_entitlements(ProductCode="contract-product", MaxResults=26)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_entitlements(ProductCode="contract-product", NextToken="garbage")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_entitlements(ProductCode="unknown-product")
    token = client.get_entitlements(ProductCode="contract-product", MaxResults=1)["NextToken"]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_entitlements(ProductCode="contract-product", NextToken=token, Filter={"DIMENSION": ["seats"]})


BUYER_A = {"CUSTOMER_AWS_ACCOUNT_ID": ["111122223333"]}


def test_entitlements_follow_the_subscription(env):
    a, _ = _world(env)
    client = env.entitlement()
    env.admin.put_entitlements(a["agreement_id"], [{"dimension": "seats", "value": 20}])
    result = client.get_entitlements(ProductCode="contract-product", Filter=BUYER_A)
    assert [e["Value"] for e in result["Entitlements"]] == [{"IntegerValue": 20}]
    env.admin.finalize(a["agreement_id"])
    result = client.get_entitlements(ProductCode="contract-product", Filter=BUYER_A)
    assert result["Entitlements"] == []


# -- Smithy RPC v2 CBOR, with botocore's own serializer and parser --------------------------------------


def _cbor_call(url, params, access_key="AKIAEMULATORSELLER01"):
    op = operation_model("marketplace-entitlement", "GetEntitlements")
    request_dict = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, op)
    prepare_request_dict(request_dict, endpoint_url=url)
    request = create_request_object(request_dict)
    SigV4Auth(Credentials(access_key, "secret"), "aws-marketplace", "us-east-1").add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=prepared.body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(raw) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, dict(error.headers), error.read()
    assert headers["Content-Type"] == "application/cbor"
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": body},
        op.output_shape,
    )
    return status, parsed


def test_cbor_protocol(env):
    a, _ = _world(env)
    status, parsed = _cbor_call(env.url, {"ProductCode": "contract-product", "MaxResults": 1})
    assert status == 200
    (entitlement,) = parsed["Entitlements"]
    assert entitlement["LicenseArn"] == a["license_arn"]
    assert entitlement["ExpirationDate"] == datetime.fromisoformat("2027-11-18T00:00:00+00:00")
    assert parsed["NextToken"]


def test_cbor_errors_carry_the_type(env):
    status, parsed = _cbor_call(env.url, {"ProductCode": "unknown-product"})
    assert status == 400
    assert parsed["Error"]["Code"] == "InvalidParameterException"
    env.admin.queue_errors({"operation": "GetEntitlements", "code": "ThrottlingException"})
    status, parsed = _cbor_call(env.url, {"ProductCode": "contract-product"})
    assert (status, parsed["Error"]["Code"]) == (400, "ThrottlingException")
