"""Attack 43 (on 4afca33): a refund whose answer was lost, that AWS took and then failed (its Failed event lost too).
``adjust --settle --send`` keeps AWS's answer to it, reads the answers again and keeps it failed in the same run: its
hours are asked for again by the next adjust. The dry run keeps no answer, so it never asks the refund's status as an
answered one, and shows only "its hours asked for again once AWS's Failed event is kept", an event that never comes:
the operator previewing the run is not told that ``--send`` frees the refund's hours (and ``--send`` shows the refund
twice, its first row still waiting for that event).

In-memory fakes of our interfaces: 09:00 over-billed by 300 units (3.00)."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

from operations.adjust_cli import run_settle
from operations.agreement_billing import BillingAdjustment, RefundEntry, RefundOutcome
from tests.unit.test_adjust import SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk43_settle_one_unknown_adjustment_blocks_every_failed_refund import world_of_two_hours


def settle_run(world: TwoRegions, *, send: bool) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert run_settle(argparse.Namespace(send=send, json=True), world.target, out, lambda rows, columns: "") == 0
    return list(json.loads(out.getvalue())["refunds"])


def test_the_dry_run_says_what_send_keeps_of_a_lost_answer_aws_failed() -> None:
    world, aws = world_of_two_hours()
    taken: list[RefundEntry] = []

    def lost(entries: list[RefundEntry]) -> list[RefundOutcome]:
        taken.extend(entries)  # AWS takes it as ba-0; its answer is lost
        return [RefundOutcome(e.client_token, None, "INTERNAL_FAILURE", "answer lost") for e in entries]

    def listed(entry: RefundEntry) -> list[BillingAdjustment]:
        return [
            BillingAdjustment("ba-0", e.invoice_id, e.amount, e.currency, "VALIDATION_FAILED", e.description, SETTLED)
            for e in taken
            if e == entry
        ]

    aws.refund = lost  # type: ignore[method-assign]
    aws.adjustments_like = listed  # type: ignore[attr-defined]
    world.adjust()
    aws.failed.add("ba-0")  # AWS failed it; its Failed event is lost

    previewed = settle_run(world, send=False)
    sent = settle_run(world, send=True)
    assert any("kept as failed" in r["outcome"] for r in sent)  # --send frees its hours in this run

    # the dry run says so too, as every dry run says what --send keeps
    assert any("--send keeps it failed" in r["outcome"] for r in previewed), [r["outcome"] for r in previewed]
    # and --send never tells it is waiting for "AWS's Failed event" (the event it just stood in for)
    assert not any("once AWS's Failed event is kept" in r["outcome"] for r in sent), [r["outcome"] for r in sent]
