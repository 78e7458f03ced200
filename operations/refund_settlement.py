"""What became of the refunds ``cli adjust --send`` kept without AWS's answer (``operations.refund_claims``), asked of
AWS itself (``cli adjust --settle``): a refund whose answer was lost is otherwise only ever sent again (its token makes
it the same refund), and one ``held`` (another refund holds one of its hours, or what was due in one of them could not
be told when it was worked out) is never sent again, so without this it stayed unanswered for ever and every run
exited 1.

A refund is known by what it asked: its agreement, invoice, amount and currency, and its description, which since
this change names its client token (``operations.adjust.Proposal.description``), so that no other refund reads the
same; an earlier version's description names its hours and units only.

- AWS lists exactly one adjustment like it: AWS took it, and that is its answer (kept: it is never sent again).
- AWS lists none a day after it was first kept (``SETTLE_AFTER``): AWS never took it. A held refund then frees its
  hours (nothing of them was refunded by it); one not held is left to the next ``adjust --send``, which sends it again
  as it was: freeing it here could race that send.
- Otherwise (listed twice, or too recent for none to mean never) nothing is decided, and it is said why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from operations.agreement_billing import BillingAdjustment, RefundEntry
from operations.refund_claims import AskedRefund

# how long after a refund was first kept AWS surely lists it, had it taken it (AWS states no delay; its list is read
# long after): a refund AWS lists none of by then was never taken
SETTLE_AFTER = timedelta(days=1)
# our clock and AWS's may differ: AWS's createdAt of a refund may read a little before we kept it
CLOCK_SKEW = timedelta(minutes=15)


class RefundLookup(Protocol):
    def adjustments_like(self, entry: RefundEntry, since: datetime | None) -> list[BillingAdjustment]: ...


class Verdict(Enum):
    TAKEN = "taken"  # AWS made this adjustment of it
    NEVER_TAKEN = "never taken"  # AWS lists none a day after it was kept
    UNSURE = "unsure"


@dataclass(frozen=True)
class Settlement:
    refund: AskedRefund
    held: bool  # never sent again by adjust --send: only this frees its hours
    verdict: Verdict
    adjustment: BillingAdjustment | None = None  # AWS's, where taken
    why: str = ""  # where unsure


def _of(adjustment: BillingAdjustment, entry: RefundEntry) -> bool:
    return adjustment.description == entry.description


def settle(refunds: Iterable[tuple[AskedRefund, bool]], lookup: RefundLookup, now: datetime) -> list[Settlement]:
    """Each unanswered refund (with whether it is held) as AWS knows it."""
    settled: list[Settlement] = []
    for refund, held in refunds:
        since = refund.at - CLOCK_SKEW if refund.at is not None else None
        found = [a for a in lookup.adjustments_like(refund.entry, since) if _of(a, refund.entry)]
        if len(found) == 1:
            settled.append(Settlement(refund, held, Verdict.TAKEN, found[0]))
        elif found:
            ids = ", ".join(a.request_id for a in found)
            why = f"AWS lists {len(found)} adjustments like it ({ids}): which one it made is not known"
            settled.append(Settlement(refund, held, Verdict.UNSURE, why=why))
        elif refund.at is not None and now - refund.at >= SETTLE_AFTER:
            settled.append(Settlement(refund, held, Verdict.NEVER_TAKEN))
        else:
            when = f"since {refund.at:%Y-%m-%dT%H:%MZ}" if refund.at else "(when it was kept is not known)"
            why = f"AWS lists no adjustment like it {when}; a day after it was kept, none means it never took it"
            settled.append(Settlement(refund, held, Verdict.UNSURE, why=why))
    return settled
