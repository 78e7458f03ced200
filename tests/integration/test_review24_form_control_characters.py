"""Review 24: the onboarding form refuses "control characters" only in ASCII (``[\\x00-\\x1f\\x7f]``). C1 control
characters (U+0080-U+009F: NEL, CSI, ...) and Unicode's line and paragraph separators pass, are stored in the Contacts
table as the buyer's details, and are echoed on the confirmation page. A CSI (U+009B) is a terminal escape on 8-bit
terminals; NEL and U+2028 break lines in many readers of the seller's (CSV exports, logs of the seller's systems).
The form's own message says such a value "must not contain control characters": a clear 422 naming the field,
nothing stored, is what every other bad value gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import completion_value, registration_harness

UNSEEN = {
    "NEL (U+0085, C1 next line)": "\u0085",
    "CSI (U+009B, C1 escape)": "\u009b",
    "LINE SEPARATOR (U+2028)": "\u2028",
}


@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_a_control_character_beyond_ascii_is_refused_naming_the_field(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings], name: str
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    form = completion_value(harness.register(harness.subscribe()["registration_token"])["body"])
    answer = harness.complete(form, company=f"Acme{UNSEEN[name]}31m", contact_name="Ada", email="ada@example.com")
    stored = harness.items(harness.settings.contacts_table)
    assert (answer["statusCode"], stored) == (422, []), f"{name}: {answer['statusCode']}, stored {stored}"
    assert "Company must not contain control characters." in answer["body"]
