"""What became of the refunds ``cli adjust --send`` kept without AWS's answer (``operations.refund_claims``), asked of
AWS itself (``cli adjust --settle``): a refund whose answer was lost is otherwise only ever sent again (its token makes
it the same refund), and one ``held`` (another refund holds one of its hours, or what was due in one of them could not
be told when it was worked out) is never sent again, so without this it stayed unanswered for ever and every run
exited 1.

A refund is known by what it asked: its agreement, invoice, amount and currency, and its description, which since
this change names its client token (``operations.adjust.Proposal.description``), so that no other refund reads the
same; an earlier version's description names its hours and units only. Every adjustment of the agreement is read,
whenever AWS made it (AWS's clock and ours may differ by any amount: a window from when we kept it would miss one;
attack 36), less those kept as another refund's answer (an earlier version's refund asked for again under another
token, its description the same, is not this one's answer; attack 36).

- AWS lists exactly one adjustment like it: AWS took it, and that is its answer (kept: it is never sent again).
- AWS lists none a day after it was last sent (``SETTLE_AFTER``; a send AWS refused outright does not count; for one
  an earlier version kept, a day after it last claimed its hours): AWS never took it, and it is kept void
  (``DynamoRefundClaims.void``: one conditional write, never where a run sent it since), never sent again, its hours
  free as a failed refund's are, so the next ``adjust --send`` refunds them afresh under a token of their own (one AWS
  now refuses when sent again as it was, the invoice's room since taken by another refund, would otherwise be sent for
  ever; attacks 36 and 37).
- Otherwise (listed twice, too recent for none to mean never, or AWS would not list or read its adjustments: a
  throttle past retries, one it no longer knows) nothing is decided, and it is said why; the other refunds are settled
  all the same (attack 44).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from operations.agreement_billing import AgreementBillingUnavailable, BillingAdjustment, RefundEntry
from operations.refund_claims import AskedRefund

# how long after a refund was last sent AWS surely lists it, had it taken it (AWS states no delay; its list is read
# long after): a refund AWS lists none of by then was never taken
SETTLE_AFTER = timedelta(days=1)


class RefundLookup(Protocol):
    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]: ...


class AdjustmentLookup(Protocol):
    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment: ...


class Verdict(Enum):
    TAKEN = "taken"  # AWS made this adjustment of it
    NEVER_TAKEN = "never taken"  # AWS lists none a day after it was last sent
    UNSURE = "unsure"


@dataclass(frozen=True)
class Settlement:
    refund: AskedRefund
    held: bool  # never sent again by adjust --send
    verdict: Verdict
    adjustment: BillingAdjustment | None = None  # AWS's, where taken
    why: str = ""  # where unsure


def _of(adjustment: BillingAdjustment, entry: RefundEntry) -> bool:
    return adjustment.description == entry.description


def settle(
    refunds: Iterable[tuple[AskedRefund, bool]],
    lookup: RefundLookup,
    answers: Mapping[str, str],
    now: datetime,
    claimed: Mapping[str, datetime] | None = None,
) -> list[Settlement]:
    """Each unanswered refund (with whether it is held) as AWS knows it; ``answers``: every adjustment kept as a
    refund's answer, with that refund's token; ``claimed``: when its hours were last claimed, by token, for a refund
    an earlier version kept (no ``sent``: that version claimed them again each time it sent it; attack 37)."""
    claimed = claimed or {}
    settled: list[Settlement] = []
    for refund, held in refunds:
        token = refund.entry.client_token
        try:
            listed = lookup.adjustments_like(refund.entry)
        except AgreementBillingUnavailable as error:
            # each refund on its own, as the answered ones are (``outcomes_unheard``): raised, one AWS will not say
            # of would stop every other refund being settled, and every answered one being asked of, on every run
            # while it stays unanswered (attack 44)
            why = f"AWS was asked for its adjustments like it and answered {error}"
            settled.append(Settlement(refund, held, Verdict.UNSURE, why=why))
            continue
        found = [a for a in listed if _of(a, refund.entry) and answers.get(a.request_id, token) == token]
        last = refund.sent or max(filter(None, (refund.at, claimed.get(token))), default=None)
        if len(found) == 1:
            settled.append(Settlement(refund, held, Verdict.TAKEN, found[0]))
        elif found:
            ids = ", ".join(a.request_id for a in found)
            why = f"AWS lists {len(found)} adjustments like it ({ids}): which one it made is not known"
            settled.append(Settlement(refund, held, Verdict.UNSURE, why=why))
        elif last is not None and now - last >= SETTLE_AFTER:
            settled.append(Settlement(refund, held, Verdict.NEVER_TAKEN))
        else:
            when = f"sent {last:%Y-%m-%dT%H:%MZ}" if last else "when it was sent is not known"
            why = f"AWS lists no adjustment like it ({when}); a day after it was sent, none means it never took it"
            settled.append(Settlement(refund, held, Verdict.UNSURE, why=why))
    return settled


@dataclass(frozen=True)
class Outcome:
    """What AWS says of an answered refund no outcome event was kept of: its adjustment now, or why it could not."""

    refund: AskedRefund
    adjustment: BillingAdjustment | None = None
    error: str = ""


def outcomes_unheard(
    answered: Iterable[AskedRefund], heard: Collection[str], lookup: AdjustmentLookup
) -> list[Outcome]:
    """AWS's word on each answered refund of which no outcome event was kept (``heard``: the request ids of the Billing
    Adjustment Completed and Failed events kept): a Failed event never kept (lost past the queue's retention, sent
    before the stack listened) held its hours for ever, the next adjust taking them as refunded. One
    GetBillingAdjustmentRequest each, each on its own: one AWS refuses (an adjustment it no longer knows, a throttle
    past retries) says why and stops none of the others (attack 43)."""
    outcomes = []
    for refund in answered:
        if refund.request_id is None or refund.request_id in heard:
            continue
        try:
            outcomes.append(Outcome(refund, lookup.adjustment(refund.entry.agreement_id, refund.request_id)))
        except AgreementBillingUnavailable as error:
            outcomes.append(Outcome(refund, error=str(error)))
    return outcomes
