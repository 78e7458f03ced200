"""Every pattern check matches the whole value: Python's ``$`` also matches before a final newline, so a check
written as ``re.match("^...$")`` lets ``"acme-42\\n"`` through. Each validator here, given a valid value with a
newline after it, refuses it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from functions.customers.model import tenant_id_problem
from functions.customers.subjects import licence_id
from functions.settings import ContactField, Dimension, InvalidField, Product, Settings
from operations.cli import CommandError, moment
from usage_client import UsageClient, usage_event
from usage_client.client import UsageApiUnavailable


def _refused(check: Callable[[], object], *errors: type[Exception]) -> bool:
    try:
        check()
    except errors:
        return True
    return False


def _refused_by_the_client(event_id: str) -> bool:
    """Whether the producer client refuses the event id before sending (nothing listens at its URL: an event it
    lets through fails to connect instead)."""
    try:
        UsageClient("http://127.0.0.1:9/usage", api_key="k", attempts=1).send(
            [usage_event("p", "d", 1, event_id=event_id)]
        )
    except ValueError:
        return True
    except UsageApiUnavailable:
        return False
    raise AssertionError("nothing listens there: the send cannot have succeeded")


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
API_CALLS = (Dimension(name="api_calls"),)
CHECKS: dict[str, Callable[[str], bool]] = {
    "tenant id": lambda suffix: tenant_id_problem("acme-42" + suffix) is not None,
    "product code": lambda suffix: _refused(lambda: Product("p-1" + suffix, "P", API_CALLS), InvalidField),
    "currency": lambda suffix: _refused(lambda: Dimension("d", currency="USD" + suffix), InvalidField),
    "contact field name": lambda suffix: _refused(lambda: ContactField("team" + suffix, "Team"), InvalidField),
    "stage": lambda suffix: _refused(lambda: Settings(stage="beta" + suffix), InvalidField),
    "region": lambda suffix: _refused(lambda: Settings(other_metering_regions=("eu-west-1" + suffix,)), InvalidField),
    "cli relative time": lambda suffix: _refused(lambda: moment("6h" + suffix, NOW, "--since"), CommandError),
    "producer event id": lambda suffix: _refused_by_the_client("e-1" + suffix),
    "licence id": lambda suffix: licence_id("arn:aws:license-manager::1:license:l-abc" + suffix) is None,
}


@pytest.mark.parametrize("name", CHECKS)
def test_a_valid_value_passes_and_the_same_with_a_trailing_newline_does_not(name: str) -> None:
    check = CHECKS[name]
    assert not check(""), f"{name}: the valid value itself is refused"
    assert check("\n"), f"{name}: a trailing newline got through"
