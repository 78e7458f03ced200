"""Registration tokens: ResolveCustomer answers, expiry on the emulator clock, single use."""

from __future__ import annotations

import pytest

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


def test_token_expires_on_the_emulator_clock(env):
    sub = env.subscribe_buyer()
    env.admin.advance_clock(3601)
    client = env.metering(max_attempts=1)
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])


def test_token_ttl_is_configurable_and_fresh_tokens_can_be_issued(env):
    env.admin.put_config(token_ttl_seconds=60)
    sub = env.subscribe_buyer()
    env.admin.advance_clock(59)
    client = env.metering(max_attempts=1)
    assert client.resolve_customer(RegistrationToken=sub["registration_token"])
    env.admin.advance_clock(120)
    fresh = env.admin.issue_token(sub["agreement_id"])["registration_token"]
    assert client.resolve_customer(RegistrationToken=fresh)["LicenseArn"] == sub["license_arn"]


def test_token_is_single_use_by_default(env):
    sub = env.subscribe_buyer()
    client = env.metering(max_attempts=1)
    client.resolve_customer(RegistrationToken=sub["registration_token"])
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])


def test_reuse_can_be_allowed(env):
    env.admin.put_config(token_single_use=False)
    sub = env.subscribe_buyer()
    client = env.metering(max_attempts=1)
    for _ in range(2):
        assert client.resolve_customer(RegistrationToken=sub["registration_token"])


@pytest.mark.parametrize("token", ["garbled", "x" * 300, "ab+/=="])
def test_unknown_token_is_invalid(env, token):
    env.subscribe_buyer()
    client = env.metering(max_attempts=1)
    with pytest.raises(client.exceptions.InvalidTokenException):
        client.resolve_customer(RegistrationToken=token)


def test_lost_resolve_response_burns_the_token(env):
    # The awkward real-world case: the token was consumed but the answer never arrived.
    sub = env.subscribe_buyer()
    env.admin.queue_errors({"operation": "ResolveCustomer", "code": "LostResponse"})
    client = env.metering(max_attempts=2)
    with pytest.raises(client.exceptions.ExpiredTokenException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])
