"""What AWS Marketplace tells the seller about an agreement besides its lifecycle: an advisory (AWS suspects fraud,
abuse or a closed account), the renewal reminders, the advance notice of its end, the seller's own cancellation
requests and billing adjustments (refunds), and the entitlement GetAgreementEntitlements reported for it.

Each is kept under its agreement (``AGMT#<agreement id>``) as a notice of its own (``key``): a newer one replaces an
older one of the same key, never the other way round, so duplicates and every arrival order end the same (as the
lifecycle's times do, ``functions.customers.subscription``); a final one (a refund AWS failed) replaces any other of
its key, whatever the times. Only values AWS's events carry and that are no buyer's personal data are kept: ids,
codes, statuses, amounts and times. A buyer's own words (a rejected cancellation's ``statusMessage``) may be personal
data, and are not kept; AWS's own message on a failed validation is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class NoticeKind(StrEnum):
    ADVISORY = "advisory"  # Purchase Agreement Advisory Issued / Resolved
    RENEWAL_TERMS_FINALIZED = "renewal_terms_finalized"  # Purchase Agreement Renewal Terms Finalized
    RENEWAL_UPCOMING = "renewal_upcoming"  # Purchase Agreement Renewal Upcoming
    ENDING = "ending"  # Purchase Agreement Ending: 180, 120, 90, 60 and 30 days before the end
    CANCELLATION_REQUEST = "cancellation_request"  # Agreement Cancellation Request ... (the seller's request)
    BILLING_ADJUSTMENT = "billing_adjustment"  # Purchase Agreement Billing Adjustment Completed / Failed
    ENTITLEMENT = "entitlement"  # GetAgreementEntitlements: the licence and its status


# Statuses of one notice that may come in the same second as the one before them: the later step wins a tie.
_LATER_STEPS = {
    "RESOLVED": 1,  # an advisory's resolution after its issue
    "APPROVED": 1,  # a cancellation request's outcome after its PENDING_APPROVAL
    "REJECTED": 1,
    "CANCELLED": 1,
    "VALIDATION_FAILED": 1,
}

# Notices nothing of their key follows: kept over any other of it, whatever the times. A refund AWS failed refunded
# nothing (its model: PENDING, then VALIDATION_FAILED or COMPLETED; AWS may send Completed when it takes one and Failed
# when it then fails it), so its Failed event must outrank a COMPLETED of it stamped at or after it: AWS's Completed in
# the same second, or ``adjust --settle``'s, kept at the run's clock when it read it completed (sub-second, and our
# clock, not AWS's). Dropped, the failure read completed for ever and its hours were never refunded (attack 44).
_FINAL = {(NoticeKind.BILLING_ADJUSTMENT, "FAILED")}


@dataclass(frozen=True)
class AgreementNotice:
    """What one of the seller's agreement events said (an advisory, a reminder, a cancellation request, a refund's
    outcome), kept under its agreement."""

    agreement_id: str
    kind: NoticeKind
    key: str  # which notice of the agreement it is: one per kind, per request for requests, per licence
    status: str  # ISSUED / RESOLVED, PENDING_APPROVAL ..., COMPLETED / FAILED, PROVISIONED ..., or the reminder's
    at: datetime  # when Marketplace said it (the event's time; a lookup's time)
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        """Nothing of its key follows it (``_FINAL``)."""
        return (self.kind, self.status) in _FINAL

    @property
    def order(self) -> tuple[bool, datetime, int]:
        """Which of two notices of one key stands: a final one, then the newer by time, then by step (a request's
        outcome after its start)."""
        return self.final, self.at, _LATER_STEPS.get(self.status, 0)

    def summary(self) -> str:
        """One line for the operator: the kind, its status and what matters most about it."""
        d = self.details
        if self.kind is NoticeKind.ADVISORY:
            return f"advisory {self.status.lower()}"
        if self.kind is NoticeKind.CANCELLATION_REQUEST:
            return f"cancellation {self.status} ({d.get('reason_code', '?')})"
        if self.kind is NoticeKind.BILLING_ADJUSTMENT:
            amount = f" {d['amount']} {d.get('currency', '')}".rstrip() if "amount" in d else ""
            return f"refund {self.status}{amount} (invoice {d.get('invoice_id', '?')})"
        if self.kind is NoticeKind.ENDING:
            return f"ends {d.get('end_time', '?')} ({d.get('days_before_end', '?')} days notice)"
        if self.kind is NoticeKind.RENEWAL_TERMS_FINALIZED:
            return f"renewal terms final ({d.get('tcv', '?')} {d.get('currency', '')})".replace(" )", ")")
        if self.kind is NoticeKind.RENEWAL_UPCOMING:
            return f"renews {d.get('end_time', '?')}"
        reason = f" {d['reason_code']}" if "reason_code" in d else ""
        return f"entitlement {self.status}{reason}"


def notice_key(kind: NoticeKind, request_id: str | None = None) -> str:
    """One notice per kind, and one per request of the kinds that are requests (or per licence)."""
    return f"{kind.value}#{request_id}" if request_id else kind.value


def latest(notices: Iterable[AgreementNotice]) -> list[AgreementNotice]:
    """The notice that stands of each key (``AgreementNotice.order``), newest first."""
    newest: dict[tuple[str, str], AgreementNotice] = {}
    for notice in notices:
        key = (notice.agreement_id, notice.key)
        if key not in newest or newest[key].order < notice.order:
            newest[key] = notice
    return sorted(newest.values(), key=lambda n: (n.at, n.order), reverse=True)
