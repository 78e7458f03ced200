"""The onboarding form: each field checked with a message naming it, values kept to show them again."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FIELDS = ("company", "contact_name", "email", "phone")
LABELS = {"company": "Company", "contact_name": "Contact name", "email": "Email", "phone": "Phone (optional)"}
_MAX_LENGTH = {"company": 200, "contact_name": 200, "email": 254, "phone": 40}
# deliberately loose: one @, no spaces, a dot in the domain; the seller confirms the address by mail
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,38}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ContactForm:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    def contact(self) -> dict[str, str]:
        """The details to store: the optional phone only when given."""
        return {name: value for name, value in self.values.items() if value}


def parse_contact_form(fields: dict[str, list[str]]) -> ContactForm:
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        given = fields.get(name, [])
        value = given[0].strip() if given else ""
        values[name] = value
        label = LABELS[name].removesuffix(" (optional)")
        if len(given) > 1:
            errors[name] = f"{label} was sent more than once."
        elif not value and name != "phone":
            errors[name] = f"{label} is required."
        elif len(value) > _MAX_LENGTH[name]:
            errors[name] = f"{label} must be at most {_MAX_LENGTH[name]} characters."
        elif _CONTROL.search(value):
            errors[name] = f"{label} must not contain control characters."
        elif name == "email" and not _EMAIL.match(value):
            errors[name] = "Email must be an address like name@example.com."
        elif name == "phone" and value and not _PHONE.match(value):
            errors[name] = "Phone may contain only digits, spaces and + ( ) . / -, at least 5 of them."
    return ContactForm(values=values, errors=errors)
