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
        signing.verify_signup_value(value, SECRET, now=0)


@given(position=st.integers(min_value=0), replacement=st.characters(codec="ascii"))
def test_changing_any_character_breaks_the_signature(position: int, replacement: str) -> None:
    value = signing.sign(CLAIMS, secret=SECRET, purpose=signing.SIGNUP, expires_at=10**10)
    index = position % len(value)
    tampered = value[:index] + replacement + value[index + 1 :]
    if tampered == value:
        return
    with pytest.raises(signing.SignatureInvalid):
        signing.verify_signup_value(tampered, SECRET, now=0)


def test_the_seller_helper_returns_the_claims() -> None:
    value = signing.sign({**CLAIMS, "free_trial": True}, secret=SECRET, purpose=signing.SIGNUP, expires_at=50)
    assert signing.verify_signup_value(value, SECRET, now=10) == {**CLAIMS, "free_trial": True, "exp": 50}
