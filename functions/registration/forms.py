"""The onboarding form: the seller's fields (``Settings.contact_fields``), each checked with a message naming it,
values kept to show them again. Nothing outside those fields is read or stored."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from functions.settings import ContactField

# deliberately loose: one @, no spaces, a dot in the domain; the seller confirms the address by mail
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,38}$")
# refused in any field: Unicode's control characters (Cc: C0, DEL, C1 such as NEL and the 8-bit CSI escape), line and
# paragraph separators (Zl, Zp) and the bidirectional controls (which reorder what the seller's systems show); other
# format characters (Cf: joiners a real name may need) pass
_REFUSED_CATEGORIES = {"Cc", "Zl", "Zp"}
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _has_control(text: str) -> bool:
    return any(c in _BIDI_CONTROLS or unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


@dataclass(frozen=True)
class ContactForm:
    """The onboarding form as the buyer filled it in, with what is wrong in it by field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    def contact(self) -> dict[str, str]:
        """The details to store: optional fields only when given."""
        return {name: value for name, value in self.values.items() if value}


def _problem(spec: ContactField, given: list[str], value: str) -> str | None:
    if len(given) > 1:
        return f"{spec.label} was sent more than once."
    if given and _has_control(given[0]):  # as sent: a newline is not trimmed away like the spaces around it
        return f"{spec.label} must not contain control characters."
    if not value:
        return f"{spec.label} is required." if spec.required else None
    if len(value) > spec.max_length:
        return f"{spec.label} must be at most {spec.max_length} characters."
    if spec.kind == "email" and not _EMAIL.fullmatch(value):
        return f"{spec.label} must be an address like name@example.com."
    if spec.kind == "tel" and not _PHONE.fullmatch(value):
        return f"{spec.label} may contain only digits, spaces and + ( ) . / -, at least 5 of them."
    return None


def parse_contact_form(fields: dict[str, list[str]], specs: tuple[ContactField, ...]) -> ContactForm:
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in specs:
        given = fields.get(spec.name, [])
        values[spec.name] = value = given[0].strip() if given else ""
        if (problem := _problem(spec, given, value)) is not None:
            errors[spec.name] = problem
    return ContactForm(values=values, errors=errors)
