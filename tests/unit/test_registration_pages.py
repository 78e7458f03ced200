from __future__ import annotations

import pytest

from functions.registration import pages
from functions.registration.forms import parse_contact_form

XSS = "<img src=x onerror=alert(1)>\"'&"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;"


def test_the_onboarding_page_escapes_everything_interpolated() -> None:
    html = pages.onboarding(
        product_name=XSS,
        completion_value='v"><script>',
        action="register/complete",
        values=dict.fromkeys(("company", "contact_name", "email", "phone"), XSS),
        errors={"email": XSS},
    )
    assert "<img" not in html
    assert "<script>" not in html
    assert html.count(ESCAPED) >= 6  # title, heading, four values, error (some appear twice)


def test_confirmation_and_message_pages_escape() -> None:
    assert "<img" not in pages.confirmation(product_name=XSS, contact={"company": XSS, "email": XSS})
    assert "<img" not in pages.message(XSS, XSS)


def test_the_policy_allows_exactly_our_inline_style() -> None:
    csp = pages.SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert "script-src" not in csp  # default-src 'none' forbids every script


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"company": ["A"], "contact_name": ["B"], "email": ["a@b.co"]}, set()),
        ({"company": ["A"], "contact_name": ["B"], "email": ["a@b.co"], "phone": ["+1 555 0100"]}, set()),
        ({}, {"company", "contact_name", "email"}),
        ({"company": [" "], "contact_name": ["B"], "email": ["a@b.co"]}, {"company"}),
        ({"company": ["A" * 201], "contact_name": ["B"], "email": ["a@b.co"]}, {"company"}),
        ({"company": ["A"], "contact_name": ["B\x00"], "email": ["a@b.co"]}, {"contact_name"}),
        ({"company": ["A"], "contact_name": ["B"], "email": ["a@b"]}, {"email"}),
        ({"company": ["A"], "contact_name": ["B"], "email": ["a@b.co"], "phone": ["call me"]}, {"phone"}),
        ({"company": ["A", "C"], "contact_name": ["B"], "email": ["a@b.co"]}, {"company"}),
    ],
)
def test_the_form_names_each_bad_field(fields: dict[str, list[str]], errors: set[str]) -> None:
    form = parse_contact_form(fields)
    assert set(form.errors) == errors
    assert form.valid is (not errors)


def test_the_optional_phone_is_stored_only_when_given() -> None:
    form = parse_contact_form({"company": ["A"], "contact_name": ["B"], "email": ["a@b.co"], "phone": [""]})
    assert form.contact() == {"company": "A", "contact_name": "B", "email": "a@b.co"}
