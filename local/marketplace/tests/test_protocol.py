"""Wire-level behaviour: JSON 1.1 framing, server-side model validation, auth header, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from ..admin_client import AdminClient
from .helpers import PACKAGE, PACKAGE_ROOT

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAEMULATORSELLER01/20261118/us-east-1/aws-marketplace/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000"
)

TOKEN = {"RegistrationToken": "t"}


def _raw(url, target, body, auth=AUTH):
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    if auth:
        headers["Authorization"] = auth
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + "/", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_model_validation_answers_like_aws(marketplace):
    status, body = _raw(
        marketplace.url,
        "AWSMPMeteringService.BatchMeterUsage",
        {"UsageRecords": [{"Timestamp": 1795000000, "Dimension": "x" * 256, "QuantityAsDecimal": "1.1234567"}]},
    )
    assert status == 400
    assert body["__type"] == "ValidationException"
    assert body["message"].startswith("2 validation errors detected: ")
    assert (
        "at 'usageRecords.1.member.dimension' failed to satisfy constraint: Member must have length less than"
        in (body["message"])
    )
    assert (
        "'usageRecords.1.member.quantityAsDecimal' failed to satisfy constraint: Member must satisfy regular"
        in (body["message"])
    )


def test_required_members_and_types(marketplace):
    status, body = _raw(marketplace.url, "AWSMPMeteringService.ResolveCustomer", {})
    assert (status, body["__type"]) == (400, "ValidationException")
    assert "'registrationToken' failed to satisfy constraint: Member must not be null" in body["message"]
    wrong_type = {"ProductCode": "p", "PublicKeyVersion": "1"}
    status, body = _raw(marketplace.url, "AWSMPMeteringService.RegisterUsage", wrong_type)
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = _raw(marketplace.url, "AWSMPMeteringService.ResolveCustomer", b"{not json")
    assert (status, body["__type"]) == (400, "SerializationException")


def test_unsigned_and_unknown_requests(marketplace):
    status, body = _raw(marketplace.url, "AWSMPMeteringService.ResolveCustomer", TOKEN, auth=None)
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    status, body = _raw(marketplace.url, "AWSMPMeteringService.DeleteEverything", {})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    wrong_scope = AUTH.replace("/aws-marketplace/", "/execute-api/")
    status, body = _raw(marketplace.url, "AWSMPMeteringService.ResolveCustomer", TOKEN, wrong_scope)
    assert (status, body["__type"]) == (403, "InvalidSignatureException")


def test_client_side_validation_can_be_bypassed_to_reach_the_server(marketplace):
    client = marketplace.metering(parameter_validation=False, max_attempts=1)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.resolve_customer(RegistrationToken="")
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_every_call_is_logged(marketplace):
    client = marketplace.metering(max_attempts=1)
    client.batch_meter_usage(UsageRecords=[])
    with pytest.raises(client.exceptions.InvalidTokenException):
        client.resolve_customer(RegistrationToken="nope")
    calls = marketplace.admin.calls()
    assert [(c["operation"], c["http_status"], c["error_code"]) for c in calls] == [
        ("BatchMeterUsage", 200, None),
        ("ResolveCustomer", 400, "InvalidTokenException"),
    ]
    assert all(c["access_key_id"] == "AKIAEMULATORSELLER01" for c in calls)
    assert [c["operation"] for c in marketplace.admin.calls(error_code="null")] == ["BatchMeterUsage"]


def test_subscription_filters(marketplace):
    marketplace.subscribe_buyer("111122223333", free_trial=True)
    marketplace.subscribe_buyer("444455556666", confirm=False)
    admin = marketplace.admin
    assert [s["account_id"] for s in admin.list_subscriptions(free_trial="true")] == ["111122223333"]
    assert [s["account_id"] for s in admin.list_subscriptions(status="pending")] == ["444455556666"]


def test_admin_errors(marketplace):
    from ..admin_client import AdminAPIError

    with pytest.raises(AdminAPIError) as caught:
        marketplace.admin.put_config(no_such_setting=1)
    assert caught.value.status == 400
    with pytest.raises(AdminAPIError) as caught:
        marketplace.admin.confirm("agmt-unknown")
    assert caught.value.status == 404
    sub = marketplace.subscribe_buyer()
    with pytest.raises(AdminAPIError) as caught:
        marketplace.admin.confirm(sub["agreement_id"])
    assert caught.value.status == 409


def test_admin_client_at_the_contract_import_path():
    # CONTRACT.md promises ``<package>.admin``; the client lives in ``admin_client``
    from .. import admin, admin_client

    assert admin.AdminClient is admin_client.AdminClient
    assert admin.AdminAPIError is admin_client.AdminAPIError


def test_cli_demo(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            PACKAGE,
            "--port",
            "0",
            "--demo",
            "--state-file",
            str(tmp_path / "s.json"),
            "--fulfillment-url",
            "http://127.0.0.1:9999/signup",
        ],
        cwd=PACKAGE_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.strip().rsplit(" ", 1)[-1]
        admin = AdminClient(url)
        (product,) = admin.list_products()
        assert product["customer_mode"] == "license"
        assert product["dimensions"] == ["api_calls", "storage_gb"]
        assert product["fulfillment_url"] == "http://127.0.0.1:9999/signup"
        assert len(admin.list_buyers()) >= 2
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0
    assert (tmp_path / "s.json").exists()
