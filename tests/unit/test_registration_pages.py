from __future__ import annotations

import json

import pytest

from functions.registration import pages
from functions.registration.forms import parse_contact_form
from functions.settings import (
    DEFAULT_CONTACT_FIELDS,
    ContactField,
    InvalidField,
    Settings,
    SettingsError,
    settings_environment,
    settings_from_env,
)

XSS = "<img src=x onerror=alert(1)>\"'&"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;"


def test_the_onboarding_page_escapes_everything_interpolated() -> None:
    html = pages.onboarding(
        product_name=XSS,
        completion_value='v"><script>',
        action="register/complete",
        fields=(*DEFAULT_CONTACT_FIELDS, ContactField("x", XSS)),
        values=dict.fromkeys(("company", "contact_name", "email", "phone"), XSS),
        errors={"email": XSS},
    )
    assert "<img" not in html
    assert "<script>" not in html
    assert html.count(ESCAPED) >= 6  # title, heading, four values, error (some appear twice)


def test_confirmation_and_message_pages_escape() -> None:
    assert "<img" not in pages.confirmation(
        product_name=XSS, contact={"company": XSS, "email": XSS}, fields=DEFAULT_CONTACT_FIELDS
    )
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
    form = parse_contact_form(fields, DEFAULT_CONTACT_FIELDS)
    assert set(form.errors) == errors
    assert form.valid is (not errors)


def test_the_optional_phone_is_stored_only_when_given() -> None:
    form = parse_contact_form(
        {"company": ["A"], "contact_name": ["B"], "email": ["a@b.co"], "phone": [""]}, DEFAULT_CONTACT_FIELDS
    )
    assert form.contact() == {"company": "A", "contact_name": "B", "email": "a@b.co"}


SELLER_FIELDS = (
    ContactField("team", "Team name", max_length=5),
    ContactField("billing_email", "Billing email", kind="email"),
)


def test_only_the_sellers_fields_are_read_each_within_its_bound() -> None:
    posted = {"team": ["Ops"], "billing_email": ["a@b.co"], "email": ["x@y.co"], "company": ["Not asked"]}
    form = parse_contact_form(posted, SELLER_FIELDS)
    assert form.contact() == {"team": "Ops", "billing_email": "a@b.co"}  # nothing the seller did not ask for
    too_long = parse_contact_form({**posted, "team": ["Ops-12"]}, SELLER_FIELDS)
    assert too_long.errors == {"team": "Team name must be at most 5 characters."}
    html = pages.onboarding(product_name="P", completion_value="v", action="a", fields=SELLER_FIELDS)
    assert 'name="team"' in html
    assert 'maxlength="5"' in html
    assert 'type="email"' in html
    assert 'name="company"' not in html


def test_the_sellers_fields_travel_through_the_environment() -> None:
    settings = Settings(contact_fields=SELLER_FIELDS)
    assert settings_from_env(settings_environment(settings)).contact_fields == SELLER_FIELDS


@pytest.mark.parametrize(
    ("listed", "field"),
    [
        ((), "contact_fields"),
        ((ContactField("a", "A"), ContactField("a", "B")), "contact_fields"),
        (tuple(ContactField(f"f{i}", "F") for i in range(11)), "contact_fields"),
    ],
)
def test_a_bad_field_list_is_refused_naming_it(listed: tuple[ContactField, ...], field: str) -> None:
    with pytest.raises(InvalidField) as raised:
        Settings(contact_fields=listed)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"name": "Team", "label": "T"}, "name"),
        ({"name": "registration", "label": "T"}, "name"),
        ({"name": "team", "label": ""}, "label"),
        ({"name": "team", "label": "T", "max_length": 0}, "max_length"),
        ({"name": "team", "label": "T", "max_length": 1001}, "max_length"),
        ({"name": "team", "label": "T", "kind": "date"}, "kind"),
        ({"name": "team", "label": "T", "required": "yes"}, "required"),
    ],
)
def test_a_bad_field_is_refused_naming_it(document: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=rf"CONTACT_FIELDS\[0\]\.{named}: "):
        settings_from_env({"CONTACT_FIELDS": json.dumps([document])})


@pytest.mark.parametrize(
    "hidden", ["\u0085", "\u009b", "\u2028", "\u2029", "\u202e", "\u2066", "\u200f", "\x00", "\x7f"]
)
def test_unicode_controls_separators_and_bidi_controls_are_refused_naming_the_field(hidden: str) -> None:
    form = parse_contact_form(
        {"company": [f"Acme{hidden}Corp"], "contact_name": ["Ada"], "email": ["ada@example.com"]},
        DEFAULT_CONTACT_FIELDS,
    )
    assert form.errors == {"company": "Company must not contain control characters."}


def test_a_name_that_needs_a_zero_width_joiner_passes() -> None:
    name = "\u0915\u094d\u200d\u0937"  # क्‍ष: a real name may need a joiner (Cf)
    form = parse_contact_form(
        {"company": ["Acme"], "contact_name": [name], "email": ["ada@example.com"]}, DEFAULT_CONTACT_FIELDS
    )
    assert form.valid
    assert form.contact()["contact_name"] == name
