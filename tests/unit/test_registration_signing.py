from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.registration import signing

SECRET = "unit-secret"
CLAIMS = {"product_code": "prod1", "license_arn": "arn:aws:license-manager::1:license:l-1"}


def test_a_signed_value_verifies_until_it_expires() -> None:
    value = signing.sign(CLAIMS, secret=SECRET, purpose=signing.COMPLETION, expires_at=1000)
    assert (
        signing.verify(value, secret=SECRET, purpose=signing.COMPLETION, now=999)["license_arn"]
        == CLAIMS["license_arn"]
    )
    with pytest.raises(signing.SignatureExpired):
        signing.verify(value, secret=SECRET, purpose=signing.COMPLETION, now=1000)


def test_another_secret_or_purpose_is_refused() -> None:
    value = signing.sign(CLAIMS, secret=SECRET, purpose=signing.COMPLETION, expires_at=1000)
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(value, secret="other", purpose=signing.COMPLETION, now=0)
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(value, secret=SECRET, purpose=signing.SIGNUP, now=0)


@given(position=st.integers(min_value=0), replacement=st.characters(codec="ascii"))
def test_changing_any_character_breaks_the_signature(position: int, replacement: str) -> None:
    value = signing.sign(CLAIMS, secret=SECRET, purpose=signing.SIGNUP, expires_at=10**10)
    index = position % len(value)
    tampered = value[:index] + replacement + value[index + 1 :]
    if tampered == value:
        return
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(tampered, secret=SECRET, purpose=signing.SIGNUP, now=0)


def test_only_the_secret_signs_an_exchange_request_and_only_for_its_value() -> None:
    value = signing.sign(CLAIMS, secret=SECRET, purpose=signing.SIGNUP, expires_at=50)
    form = signing.signup_exchange(value, SECRET)
    assert form[signing.SIGNUP_PARAMETER] == value
    assert signing.signup_exchange_signed(value, form[signing.SIGNATURE_FIELD], SECRET)
    assert not signing.signup_exchange_signed(value, signing.signup_exchange(value, "other")["signature"], SECRET)
    other = signing.sign({**CLAIMS, "license_arn": "x"}, secret=SECRET, purpose=signing.SIGNUP, expires_at=50)
    assert not signing.signup_exchange_signed(other, form[signing.SIGNATURE_FIELD], SECRET)


def test_a_tenant_link_carries_the_exchanges_nonce_and_needs_it() -> None:
    claims = {**CLAIMS, signing.TENANT_LINK_NONCE: "n-1"}
    link = signing.tenant_link(claims, "acme-42", SECRET, now=0)
    verified = signing.verify(link, secret=SECRET, purpose=signing.TENANT_LINK, now=1)
    assert (verified["nonce"], verified["tenant_id"]) == ("n-1", "acme-42")
    with pytest.raises(KeyError):
        signing.tenant_link(CLAIMS, "acme-42", SECRET, now=0)
