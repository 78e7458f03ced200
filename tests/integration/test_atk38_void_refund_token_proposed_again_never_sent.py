"""Attack 38 (on 28ed377, ``cli adjust --settle``'s void), against DynamoDB Local and the Marketplace emulator: the
void refund's item stays and ``DynamoRefundClaims.claim`` refuses it; a refund of its hours is asked for "after" it
only while a claim names it. Its replacement (10:00 and 11:00, after it) claims 10:00 over it, then finds 11:00
claimed by another operator's run over 11:00 alone (which read before the replacement was kept): the replacement is
released with its claim of 10:00, and no claim of 10:00 is left. The plain proposal of 10:00 is then the void
refund's own token, refused as void on every run ("not sent: another adjust asked for one of these hours meanwhile;
run it again"), for ever: ``_proposed`` (operations/adjust_cli.py) asks "after" only for ``request_id in failed``.

1,000 units over-billed at 10:00 and 700 at 11:00 (17.00); the refund of 10:00 is kept, its call throttled. The other
run is played by wrapping our own ``DynamoRefundClaims.claim`` (the boto3 calls are unchanged): it runs once, as the
replacement is about to be kept. 17.00 is due back; 7.00 is refunded."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.refund_claims import DynamoRefundClaims
from operations.refund_settlement import SETTLE_AFTER
from tests.integration.test_adjust import refunds
from tests.integration.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import (
    a_refund_of_ten_never_sent,
)
from tests.integration.test_review29_held_refund_sent_from_a_narrower_window import refunded

TEN = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-26T10:00Z")
ELEVEN = ("--from", "2026-11-26T11:00Z", "--to", "2026-11-26T11:00Z")
BOTH = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-26T11:00Z")


class ClaimedMeanwhile:
    """Our refund claims, as used by a run beside which another operator's run sends: ``meanwhile`` runs once, as
    this run is about to keep its first refund."""

    def __init__(self, real: DynamoRefundClaims, meanwhile: Any) -> None:
        self.real, self.meanwhile = real, meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def claim(self, *args: Any, **kwargs: Any) -> bool:
        run, self.meanwhile = self.meanwhile, None
        if run is not None:
            run()
        return self.real.claim(*args, **kwargs)


def test_a_void_refund_whose_hours_no_claim_names_any_more_is_refunded_after_all(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    # the refund of 10:00, kept, its call never reaching AWS; a day after, settle keeps it void
    void = a_refund_of_ten_never_sent(world)
    assert void.at is not None
    world.move_to(void.at + SETTLE_AFTER + timedelta(minutes=1))
    status, out, err = world.cli("adjust", "--settle", "--send")
    assert status == 0, err + out
    assert "void" in out, out
    assert refunded(world) == 0

    # the replacement of 10:00 with 11:00; as it is about to be kept, another operator's run over 11:00 alone
    target = world.target()
    assert target.refund_claims is not None
    beside = cast(Any, ClaimedMeanwhile(target.refund_claims(), lambda: world.cli("adjust", *ELEVEN, "--send")))
    world._target = replace(target, refund_claims=lambda: beside)
    world.cli("adjust", *BOTH, "--send")
    world._target = target
    assert refunded(world) == Decimal(7)  # the other run's refund of 11:00

    for _ in range(3):
        status, out, err = world.cli("adjust", *BOTH, "--send")

    # AWS never took the void refund: 10:00 refunded once, 11:00 once: 17.00 for 17.00 over-billed
    shown = f"{refunded(world)} refunded for 17.00 over-billed; void {void.entry.client_token}; last run said {out}"
    assert refunded(world) == Decimal(17), shown
