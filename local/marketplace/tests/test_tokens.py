"""Registration tokens: ResolveCustomer answers, expiry on the emulator clock, and both readings of reuse.

AWS's 2026 metering guidance (the default): a token resolves again, with the same answer, until it expires after
about 4 hours. The API reference (``token_single_use``): a resubmitted token is ExpiredTokenException."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..admin_client import AdminAPIError
from .helpers import NOW, iso


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    return marketplace


def test_resolve_customer_license_mode(env):
    sub = env.subscribe_buyer()
    resolved = env.metering().resolve_customer(RegistrationToken=sub["registration_token"])
    assert resolved["CustomerAWSAccountId"] == sub["account_id"]
    assert resolved["LicenseArn"] == sub["license_arn"]
    assert resolved["LicenseArn"].startswith("arn:aws:license-manager::")
    assert resolved["ProductCode"] == sub["product_code"]
    assert resolved["Metadata"]["AgreementId"] == sub["agreement_id"]
    assert sub["agreement_id"].startswith("agmt-")
    # New (licence-mode) products do not get a CustomerIdentifier.
    assert "CustomerIdentifier" not in resolved


@pytest.mark.parametrize(
    ("mode", "shape", "members"),
    [
        ("license", None, {"ProductCode", "CustomerAWSAccountId", "LicenseArn", "Metadata"}),
        ("legacy", None, {"ProductCode", "CustomerAWSAccountId", "LicenseArn", "Metadata", "CustomerIdentifier"}),
        ("legacy", "identifier-only", {"ProductCode", "CustomerAWSAccountId", "CustomerIdentifier"}),
    ],
)
def test_resolve_customer_answers_each_shape_aws_has_answered(env, mode, shape, members):
    env.admin.create_product(
        "shape-product", ["api_calls"], customer_mode=mode, resolve_customer_shape=shape or "current"
    )
    sub = env.admin.subscribe("shape-product", "111122223333")
    resolved = env.metering().resolve_customer(RegistrationToken=sub["registration_token"])
    assert set(resolved) - {"ResponseMetadata"} == members
    assert resolved["CustomerAWSAccountId"] == sub["account_id"]
    if "CustomerIdentifier" in members:
        assert resolved["CustomerIdentifier"] == sub["customer_identifier"]


def test_a_licence_product_cannot_answer_without_its_licence(env):
    with pytest.raises(AdminAPIError, match="identifier-only is a legacy product"):
        env.admin.create_product("p", ["api_calls"], resolve_customer_shape="identifier-only")
    with pytest.raises(AdminAPIError, match="resolve_customer_shape must be one of"):
        env.admin.create_product("p", ["api_calls"], customer_mode="legacy", resolve_customer_shape="old")


def test_token_lives_about_four_hours_by_default(env):
    sub = env.subscribe_buyer()
    assert sub["token_expires_at"].startswith(iso(NOW + timedelta(hours=4))[:-1])
    client = env.metering(max_attempts=1)
    env.admin.advance_clock(4 * 3600 - 1)
    assert client.resolve_customer(RegistrationToken=sub["registration_token"])["LicenseArn"] == sub["license_arn"]
    env.admin.advance_clock(1)
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])


def test_token_ttl_is_configurable_and_fresh_tokens_can_be_issued(env):
    env.admin.put_config(token_ttl_seconds=60)
    sub = env.subscribe_buyer()
    env.admin.advance_clock(59)
    client = env.metering(max_attempts=1)
    assert client.resolve_customer(RegistrationToken=sub["registration_token"])
    env.admin.advance_clock(120)
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])
    fresh = env.admin.issue_token(sub["agreement_id"])["registration_token"]
    assert client.resolve_customer(RegistrationToken=fresh)["LicenseArn"] == sub["license_arn"]


def test_by_default_a_token_resolves_again_with_the_same_answer_until_it_expires(env):
    sub = env.subscribe_buyer()
    client = env.metering(max_attempts=1)
    first = client.resolve_customer(RegistrationToken=sub["registration_token"])
    env.admin.advance_clock(3 * 3600)
    again = client.resolve_customer(RegistrationToken=sub["registration_token"])
    first.pop("ResponseMetadata")
    again.pop("ResponseMetadata")
    assert again == first
    env.admin.advance_clock(3600)
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])


def test_single_use_switch_refuses_a_resubmitted_token(env):
    env.admin.put_config(token_single_use=True)
    sub = env.subscribe_buyer()
    client = env.metering(max_attempts=1)
    client.resolve_customer(RegistrationToken=sub["registration_token"])
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])


@pytest.mark.parametrize("token", ["garbled", "x" * 300, "ab+/=="])
def test_unknown_token_is_invalid(env, token):
    env.subscribe_buyer()
    client = env.metering(max_attempts=1)
    with pytest.raises(client.exceptions.InvalidTokenException):
        client.resolve_customer(RegistrationToken=token)


def test_lost_resolve_response_burns_a_single_use_token(env):
    # The awkward case under the API reference's reading: the token was spent but the answer never arrived.
    env.admin.put_config(token_single_use=True)
    sub = env.subscribe_buyer()
    env.admin.queue_errors({"operation": "ResolveCustomer", "code": "LostResponse"})
    client = env.metering(max_attempts=2)
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])


def test_lost_resolve_response_is_recovered_by_a_retry_by_default(env):
    sub = env.subscribe_buyer()
    env.admin.queue_errors({"operation": "ResolveCustomer", "code": "LostResponse"})
    client = env.metering(max_attempts=2)
    assert client.resolve_customer(RegistrationToken=sub["registration_token"])["LicenseArn"] == sub["license_arn"]
    assert [c["operation"] for c in env.admin.calls()] == ["ResolveCustomer", "ResolveCustomer"]
