"""The AWS Marketplace Agreement Service as ``cli adjust`` asks it (``operations.adjust.InvoiceBook``): each agreement's
invoice of a month, and refunds of parts of them (BatchCreateBillingAdjustmentRequest), by the rules our emulator
keeps and cites (local/marketplace/README.md, "ListAgreementInvoiceLineItems and BatchCreateBillingAdjustmentRequest").

- An invoice per agreement and calendar month (UTC) with billing: every record Marketplace billed (Success, ours or an
  outsider's) of the licence while the agreement held it, at the dimension's list price; ``maxAdjustmentAmount`` is
  the amount less the refunds taken on it. Amounts are kept exact (the emulator rounds to cents).
- Each entry is taken or refused on its own: its ``clientToken`` again with the same entry answers the same
  adjustment and refunds nothing more, with another entry ``CONFLICT_EXCEPTION``; an unknown agreement or invoice
  ``RESOURCE_NOT_FOUND_EXCEPTION``; another currency, nothing, or more than ``maxAdjustmentAmount``
  ``VALIDATION_EXCEPTION``. In some worlds AWS fails a refund it took, later (``fail``: the world sends its Purchase
  Agreement Billing Adjustment Failed): it refunded nothing, its room is back on the invoice, and its token answers
  the failed adjustment again (the emulator fails one only when its admin says so).
- Faults (the scheduler's, ports ``agreement.*``): throttled or failing before the call, the answer lost after the
  refunds were taken; and an operator's run drawn to lose its refund's answer (``lose``), or never to reach AWS
  (``unreachable``: its refunds kept, none taken).
- ``cli adjust --settle`` reads the adjustments back (``adjustments_like``): every one taken, whenever it was (its
  status ``PENDING`` while it is to fail, ``VALIDATION_FAILED`` once failed), with the description it was sent with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from operations.agreement_billing import (
    AgreementBillingUnavailable,
    BillingAdjustment,
    Invoice,
    RefundEntry,
    RefundOutcome,
)
from sim.marketplace import SimMarketplace
from sim.scheduler import Actor, Scheduler

CURRENCY = "USD"
# how long AWS surely keeps a client token, we take it (it documents none): two adjust runs at once may send one
# refund twice a moment apart, and its token makes that one refund (seed 33738); a resend later than this is a bug
TOKEN_MEMORY = timedelta(hours=1)


@dataclass(frozen=True)
class Adjustment:
    """A refund AWS took: once per client token."""

    request_id: str
    entry: RefundEntry
    at: datetime


def invoice_id(agreement_id: str, year: int, month: int) -> str:
    digest = hashlib.sha256(f"{agreement_id}/{year:04d}-{month:02d}".encode()).hexdigest()
    return str(int(digest[:12], 16))[:10]


def _fingerprint(entry: RefundEntry) -> tuple[str, str, Decimal, str, str]:
    return (entry.agreement_id, entry.invoice_id, entry.amount, entry.currency, entry.reason_code)


@dataclass
class SimAgreements:
    scheduler: Scheduler
    marketplace: SimMarketplace
    price: Callable[[str], Decimal | None]  # a dimension's list price
    adjustments: dict[str, Adjustment] = field(default_factory=dict)  # by client token
    lose: set[Actor] = field(default_factory=set)  # invocations whose refund's answer is lost
    unreachable: set[Actor] = field(default_factory=set)  # invocations whose refunds never reach AWS
    failed: set[str] = field(default_factory=set)  # the client tokens of refunds AWS failed after taking them
    # those it will fail: PENDING until then, as its model has it (PENDING, then VALIDATION_FAILED or COMPLETED)
    failing: set[str] = field(default_factory=set)
    on_taken: Callable[[Adjustment], None] = lambda adjustment: None  # the world decides which fail
    # whether our refund claims had kept AWS's answer to this token when the run sending it decided to (its claim)
    answered_before: Callable[[str], bool] = lambda token: False
    resent_answered: list[str] = field(default_factory=list)

    # what the world reads (no port call)
    def amount(self, agreement_id: str, year: int, month: int) -> Decimal | None:
        """The invoice's amount (None: no billing that month, no invoice)."""
        total: Decimal | None = None
        for (customer, dimension, hour), billed in self.marketplace.billed.items():
            if (hour.year, hour.month) != (year, month):
                continue
            if self.marketplace.agreement_at(customer, hour) != agreement_id:
                continue
            total = (total or Decimal(0)) + billed.quantity * (self.price(dimension) or Decimal(0))
        return total

    def room(self, agreement_id: str, year: int, month: int) -> Decimal:
        """What may still be refunded on the invoice (``maxAdjustmentAmount``)."""
        amount = self.amount(agreement_id, year, month)
        if amount is None:
            return Decimal(0)
        number = invoice_id(agreement_id, year, month)
        refunded = sum(
            (
                a.entry.amount
                for token, a in self.adjustments.items()
                if (a.entry.agreement_id, a.entry.invoice_id) == (agreement_id, number) and token not in self.failed
            ),
            Decimal(0),
        )
        return max(Decimal(0), amount - refunded)

    # InvoiceBook
    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        self.scheduler.port("agreement.ListAgreementInvoiceLineItems", "before")
        if self.marketplace.owner_of(agreement_id) is None:
            raise AgreementBillingUnavailable(f"ResourceNotFoundException: Agreement {agreement_id} not found")
        amount = self.amount(agreement_id, year, month)
        found = []
        if amount is not None:
            number = invoice_id(agreement_id, year, month)
            room = self.room(agreement_id, year, month)
            found.append(Invoice(agreement_id, number, year, month, amount, room, CURRENCY))
        self.scheduler.port("agreement.ListAgreementInvoiceLineItems", "after")
        return found

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        """ListBillingAdjustmentRequests, then GetBillingAdjustmentRequest of each like the entry."""
        self.scheduler.port("agreement.ListBillingAdjustmentRequests", "before")
        alike = (entry.agreement_id, entry.invoice_id, entry.amount, entry.currency)
        found = [
            BillingAdjustment(
                a.request_id,
                a.entry.invoice_id,
                a.entry.amount,
                a.entry.currency,
                self.status(token),
                a.entry.description,
                a.at,
            )
            for token, a in self.adjustments.items()
            if (a.entry.agreement_id, a.entry.invoice_id, a.entry.amount, a.entry.currency) == alike
        ]
        self.scheduler.port("agreement.ListBillingAdjustmentRequests", "after")
        return found

    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment:
        """GetBillingAdjustmentRequest: the adjustment as AWS holds it now."""
        self.scheduler.port("agreement.GetBillingAdjustmentRequest", "before")
        token, taken = next((t, a) for t, a in self.adjustments.items() if a.request_id == request_id)
        found = BillingAdjustment(
            taken.request_id,
            taken.entry.invoice_id,
            taken.entry.amount,
            taken.entry.currency,
            self.status(token),
            taken.entry.description,
            taken.at,
        )
        self.scheduler.port("agreement.GetBillingAdjustmentRequest", "after")
        return found

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        self.scheduler.port("agreement.BatchCreateBillingAdjustmentRequest", "before")
        actor = self.scheduler.current()
        if actor is not None and actor.invocation in self.unreachable:
            raise AgreementBillingUnavailable("ConnectTimeout: no connection (simulated): nothing was taken")
        outcomes = [self._take(entry) for entry in entries]
        if self.scheduler.log is not None:
            self.scheduler.log(
                "[agreements] BatchCreateBillingAdjustmentRequest: "
                + ", ".join(
                    f"{o.client_token[-8:]} {e.amount} {o.request_id or o.error_code}"
                    for e, o in zip(entries, outcomes, strict=True)
                )
            )
        self.scheduler.port("agreement.BatchCreateBillingAdjustmentRequest", "after")  # the answer may be lost here
        actor = self.scheduler.current()
        if actor is not None and actor.invocation in self.lose:
            raise AgreementBillingUnavailable("RequestTimeout: no answer (simulated): the refunds were taken")
        return outcomes

    def _take(self, entry: RefundEntry) -> RefundOutcome:
        token = entry.client_token
        taken = self.adjustments.get(token)
        if self.answered_before(token) and taken is not None and self.scheduler.now - taken.at > TOKEN_MEMORY:
            self.resent_answered.append(token)
        if taken is not None:
            if _fingerprint(taken.entry) != _fingerprint(entry):
                return RefundOutcome(
                    token, None, "CONFLICT_EXCEPTION", f"clientToken {token} was used for another entry"
                )
            return RefundOutcome(token, taken.request_id)
        if self.marketplace.owner_of(entry.agreement_id) is None:
            return RefundOutcome(token, None, "RESOURCE_NOT_FOUND_EXCEPTION", f"Agreement {entry.agreement_id}")
        invoice = next(
            (i for i in self._invoices_now(entry.agreement_id) if i.invoice_id == entry.invoice_id),
            None,
        )
        if invoice is None:
            return RefundOutcome(token, None, "RESOURCE_NOT_FOUND_EXCEPTION", f"Invoice {entry.invoice_id} not found")
        if entry.currency != invoice.currency:
            return RefundOutcome(token, None, "VALIDATION_EXCEPTION", f"the invoice is in {invoice.currency}")
        if entry.amount <= 0:
            return RefundOutcome(token, None, "VALIDATION_EXCEPTION", "adjustmentAmount must be more than 0")
        if entry.amount > invoice.max_adjustment:
            message = f"adjustmentAmount {entry.amount} exceeds maxAdjustmentAmount {invoice.max_adjustment}"
            return RefundOutcome(token, None, "VALIDATION_EXCEPTION", message)
        request_id = f"ba-{len(self.adjustments) + 1:06d}"
        self.adjustments[token] = Adjustment(request_id, entry, self.scheduler.now)
        self.on_taken(self.adjustments[token])
        return RefundOutcome(token, request_id)

    def status(self, token: str) -> str:
        if token in self.failed:
            return "VALIDATION_FAILED"
        return "PENDING" if token in self.failing else "COMPLETED"

    def fail(self, adjustment: Adjustment) -> None:
        """AWS fails a refund it took: it refunds nothing, and what it took off the invoice's room is back."""
        self.failing.discard(adjustment.entry.client_token)
        self.failed.add(adjustment.entry.client_token)

    def _invoices_now(self, agreement_id: str) -> list[Invoice]:
        months = {(h.year, h.month) for _, _, h in self.marketplace.billed}
        found = []
        for year, month in sorted(months):
            amount = self.amount(agreement_id, year, month)
            if amount is not None:
                room = self.room(agreement_id, year, month)
                found.append(
                    Invoice(agreement_id, invoice_id(agreement_id, year, month), year, month, amount, room, CURRENCY)
                )
        return found
