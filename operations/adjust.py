"""Refunds of what was over-billed: for each hour ``cli reconcile`` finds AWS billed more units than our usage API
accepted, the excess at the dimension's list price (cdk.json), refunded on the agreement's invoice of that month
(reason ``INCORRECT_METERING``).

One refund per invoice, summing its over-billed hours, never more than the invoice's ``maxAdjustmentAmount`` (what
AWS says may still be refunded: capped to it, and said so), each with a client token made from what it refunds, so
proposing and sending it again is the same refund, never a second one. An hour an earlier refund asked for (another
window, or one more over-billed hour beside it, makes another token) is left out, named with that refund's token
(kept by ``operations.refund_claims``, which sends a refund whose answer never came again as it was): each hour is
refunded once. What cannot be proposed is said with why (no list price, no agreement known, no invoice yet, nothing
left to refund, refunded before, its usage past ``audit_retention_days``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from functions.customers.model import Customer
from functions.customers.subjects import AgreementSpan, BuyerLifecycle
from functions.flush.records import RetentionFloor
from functions.usage.model import HOUR
from operations.agreement_billing import Invoice, RefundEntry, RefundOutcome
from operations.estimates import price_of
from operations.queries import OperationsDeps, customer_names
from operations.reconcile import PLACED_FROM, Reconciliation

REASON = "INCORRECT_METERING"
DESCRIPTION_LIMIT = 500  # the model's BillingAdjustmentDescription


class InvoiceBook(Protocol):
    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]: ...

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]: ...


@dataclass(frozen=True)
class OverBilled:
    hour: datetime
    product_code: str
    customer: str
    account: str
    dimension: str
    billed: Decimal  # units AWS billed (CloudTrail)
    # units the hour's record was due to bill: what our usage API accepted in it, with what an hour over one record's
    # maximum carried into it, less what it carried on (``Reconciliation``'s own rule)
    due: Decimal
    # another metering Region's hour (cdk.json ``regions``), billed there on its own; "" for the main Region's
    region: str = ""

    @property
    def excess(self) -> Decimal:
        return self.billed - self.due


def refund_key(hour: OverBilled) -> str:
    """What one refund covers once: a customer's dimension in one hour (Marketplace bills it one record), in one
    Region (each bills its own; the main Region's key names none, as before other Regions were refunded)."""
    key = f"{hour.product_code}#{hour.customer}#{hour.dimension}#{hour.hour:%Y-%m-%dT%H}"
    return f"{key}@{hour.region}" if hour.region else key


def former_key(hour: OverBilled) -> str | None:
    """The key an earlier version may have claimed the hour under (before review 28): an hour only CloudTrail knew, of
    a licence's record (which names no product there), was claimed under no product."""
    return refund_key(replace(hour, product_code="")) if hour.product_code else None


def claim_keys(hour: OverBilled) -> tuple[str, ...]:
    """Every key a refund claims the hour under: its key now, and its former key, so that a run of the earlier version
    (which reads that one) sees the claim too."""
    return (refund_key(hour), *filter(None, [former_key(hour)]))


def claim_aliases(products: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """Every key an hour's claim may be under, given one of them: under no product (an earlier version's) and under
    each of ``products`` (``<product>#<customer>#<dimension>#<hour>``)."""
    codes = tuple(products)

    def aliases(key: str) -> tuple[str, ...]:
        rest = key.partition("#")[2]
        return (f"#{rest}", *(f"{code}#{rest}" for code in codes))

    return aliases


def former_keys(hours: Iterable[OverBilled]) -> dict[str, str]:
    """Each hour's former key (``former_key``), with its key now."""
    return {former: refund_key(h) for h in hours if (former := former_key(h)) is not None}


def hours_named(keys: Iterable[str]) -> int:
    """How many hours these claim keys name: an hour is claimed under its key now and its former key, which differ
    in their product only (``<product>#<customer>#<dimension>#<hour>``)."""
    return len({key.partition("#")[2] for key in keys})


def _in(hour: OverBilled, before: str = "/") -> str:
    """The hour's Region where it is another than the main one's (a refund's description and token name it)."""
    return f"{before}{hour.region}" if hour.region else ""


@dataclass
class Proposal:
    """One refund to propose: an invoice's over-billed hours, or why there is none."""

    agreement_id: str | None
    year: int
    month: int
    hours: list[OverBilled] = field(default_factory=list)
    charge: Decimal = Decimal(0)  # the hours' excess at list price
    currency: str | None = None
    invoice: Invoice | None = None
    amount: Decimal | None = None  # what is proposed: the charge, capped at maxAdjustmentAmount
    capped: bool = False
    problem: str | None = None
    # the billing adjustments AWS failed (refunding nothing) that asked for its hours before: its token differs from
    # theirs, which AWS would answer with the failed adjustment again
    after: set[str] = field(default_factory=set)

    @property
    def client_token(self) -> str:
        hours = ",".join(
            sorted(f"{h.hour:%Y%m%dT%H}/{h.customer}/{h.dimension}/{h.excess}{_in(h)}" for h in self.hours)
        )
        asked = f"{self.agreement_id}\0{self.invoice.invoice_id if self.invoice else ''}\0{self.amount}\0{hours}"
        if self.after:
            asked += "\0after " + ",".join(sorted(self.after))
        return "adjust-" + hashlib.sha256(asked.encode()).hexdigest()[:40]

    @property
    def description(self) -> str:
        """What it refunds, and its client token, which no other refund's description names: AWS's adjustment says
        its description back (GetBillingAdjustmentRequest), so a refund whose answer was lost is told by it
        (``operations.refund_settlement``)."""
        units = ", ".join(f"{h.hour:%Y-%m-%dT%H}Z{_in(h, ' ')} {h.dimension} {h.excess}" for h in self.hours)
        text = f"Over-billed units refunded ({len(self.hours)} hours): {units}"
        reference = f" (ref {self.client_token})"
        room = DESCRIPTION_LIMIT - len(reference)
        return (text if len(text) <= room else text[: room - 3] + "...") + reference

    def entry(self) -> RefundEntry:
        if self.invoice is None or self.amount is None or self.currency is None:
            raise ValueError(f"no refund to send: {self.problem}")
        return RefundEntry(
            agreement_id=str(self.agreement_id),
            invoice_id=self.invoice.invoice_id,
            amount=self.amount,
            currency=self.currency,
            reason_code=REASON,
            description=self.description,
            client_token=self.client_token,
        )


def over_billed(
    reconciliation: Reconciliation, customers: Iterable[Customer], main_region: str = ""
) -> list[OverBilled]:
    """The hours AWS billed more units than were due (a unit billed twice, one nobody used); usage carried into an
    hour (its own was over one record's maximum, or a leaving buyer's placed there) is due there, billed once.

    Each is named by its customer's product: CloudTrail names none for a licence's record, and an hour only it knows
    is the same hour to refund once our ledger knows it too (a leaving buyer's usage placed there later), never a
    second one (review 28)."""
    known = list(customers)
    found = []
    for row in reconciliation.rows:
        if row.cloudtrail is None:
            continue
        accepted = row.accepted if row.accepted is not None else Decimal(0)
        due = accepted + row.carried_in - row.carried_out
        if row.cloudtrail > due:
            customer = _customer_named(known, row.customer) if not row.product_code else None
            found.append(
                OverBilled(
                    row.hour,
                    row.product_code or (customer.ref.product_code if customer is not None else ""),
                    row.customer,
                    row.customer_aws_account_id,
                    row.dimension,
                    row.cloudtrail,
                    due,
                    row.region if row.region != main_region else "",
                )
            )
    return found


def _customer_named(customers: Iterable[Customer], name: str) -> Customer | None:
    return next((c for c in customers if name in customer_names(c)), None)


def billed_on(customer: Customer, lifecycle: BuyerLifecycle, hour: datetime) -> tuple[str | None, str | None]:
    """The agreement whose invoice an hour of the buyer's was billed on, or why it cannot be told.

    A renewal is a new agreement of the same licence (``intent: RENEW``): the hour is the agreement's that held the
    licence in it, the newest of the buyer's to have started before the hour ended. An agreement starts at its
    Purchase Agreement Created's ``agreement.startTime`` (a future-dated one starts after it is created; where the
    event has none, at the event: in AWS's examples they are one moment) and holds the licence until its Purchase
    Agreement Ended's final hour is over. One a renewal replaced, its own start never heard (it predates the
    deployment), started before every other. Not told: an hour no agreement of theirs had started by, one after
    the agreement it would be on had ended (its successor not heard yet), or where more than one agreement's start
    is unknown. AWS does not document which invoice a renewed licence's hour goes on; the reading that the record's
    sending time decides (our emulator's) differs only for an hour sent after a renewal that began later, where the
    refund goes on the agreement that held the licence in it (docs/operations.md, ``adjust``)."""
    spans = {span.agreement_id: span for span in lifecycle.spans}
    if customer.agreement_id is not None:
        spans.setdefault(customer.agreement_id, AgreementSpan(customer.agreement_id, None, None))
    if not spans:
        return None, None
    unheard = sorted(a for a, span in spans.items() if span.start is None)
    if len(spans) > 1 and (len(unheard) > 1 or (unheard and not spans[unheard[0]].replaced)):
        return None, (
            f"which of its agreements ({', '.join(sorted(spans))}) billed it cannot be told: no Purchase Agreement "
            f"Created heard for {', '.join(unheard)}"
        )
    started = sorted((span for span in spans.values() if span.start is None or span.start < hour + HOUR), key=_begun)
    if not started:
        first = min(spans.values(), key=_begun)
        began = f"{_begun(first):%Y-%m-%dT%H:%MZ}"
        return None, f"no agreement of this customer's had started: the first, {first.agreement_id}, at {began}"
    chosen = started[-1]
    if chosen.end is not None and hour >= chosen.end + HOUR:  # its final hour over before this one began
        return None, (
            f"{chosen.agreement_id} ended at {chosen.end:%Y-%m-%dT%H:%MZ}, before this hour: the agreement that billed "
            "it is not heard yet"
        )
    return chosen.agreement_id, None


def _begun(span: AgreementSpan) -> datetime:
    return span.start or datetime.min.replace(tzinfo=UTC)


def proposals(
    deps: OperationsDeps,
    hours: list[OverBilled],
    book: InvoiceBook,
    asked: Mapping[str, str] | None = None,
    failed: Mapping[str, str] | None = None,
    floors: Mapping[str, RetentionFloor] | None = None,
) -> list[Proposal]:
    """The refunds to propose, an invoice each; the hours no refund can be proposed for, grouped by why. ``floors``:
    each Region's record of how long its usage is surely kept (by ``OverBilled.region``; None: as the settings say,
    for every hour). ``asked``:
    the client token of the refund that asked for an hour before (``refund_key``); such an hour is left out of every
    refund, its own included (one answered is never sent again: AWS documents no lifetime for a client token, and
    one whose answer never came is sent again as it was, by ``cli adjust``, not proposed anew). ``failed``: the
    billing adjustment AWS failed that asked for an hour before (refunding nothing)."""
    return _grouped(deps, hours, book, asked or {}, failed or {}, floors)


def _not_kept(
    hour: datetime, region: str, setting: int, floors: Mapping[str, RetentionFloor] | None, now: datetime
) -> str | None:
    """Why what was due in the hour (of ``region``: "" the main one) may be gone, or None. An hour's usage events and
    record expire (their TTL) ``audit_retention_days`` after it as set when they were written, CloudTrail's 90 days
    later: past it what AWS billed looks over-billed in full (review 27b). A setting raised since leaves older hours
    kept less long (attack 31), so the fewest days the Region's flush recorded count (``floors``; None: the setting).
    An hour before its second on that record may have had its usage written by an earlier deployment (attacks 32
    and 33), which may have kept it as little as a day: never told over-billed once final. An hour of margin for
    events received early (stamped up to FUTURE_SKEW ahead) and a run that lasts."""
    days = setting
    if floors is not None:
        floor = floors.get(region, RetentionFloor())
        if floor.since is None or floor.days is None or hour < floor.since + 2 * HOUR:
            recorded = f"from {floor.since:%Y-%m-%dT%H}:00Z" if floor.since else "not yet"
            return (
                "its usage may have been kept as little as an earlier version allowed (a day): how long is on record "
                f"{recorded}{' in ' + region if region else ''}, so what was due cannot be told"
            )
        days = min(days, floor.days)
    if hour < now - timedelta(days=days) + HOUR:
        return f"its usage is kept {days} days (audit_retention_days) and may have expired: what was due cannot be told"
    return None


def unkept(keys: Iterable[str], setting: int, floors: Mapping[str, RetentionFloor], now: datetime) -> str | None:
    """Why what was due in one of a refund's hours (its claim keys, ``refund_key``) may be gone, or None."""
    for key in keys:
        stamp, _, region = key.rpartition("#")[2].partition("@")
        why = _not_kept(datetime.strptime(stamp, "%Y-%m-%dT%H").replace(tzinfo=UTC), region, setting, floors, now)
        if why is not None:
            return f"{why} ({stamp}Z{' in ' + region if region else ''})"
    return None


def _grouped(
    deps: OperationsDeps,
    hours: list[OverBilled],
    book: InvoiceBook,
    before: Mapping[str, str],
    failed: Mapping[str, str],
    floors: Mapping[str, RetentionFloor] | None,
) -> list[Proposal]:
    known = list(deps.customers.list_all())
    now = deps.clock.now()
    grouped: dict[tuple[str | None, int, int, str | None], Proposal] = {}
    lifecycles: dict[str, BuyerLifecycle] = {}
    for hour in hours:
        customer = _customer_named(known, hour.customer)
        agreement, unknown = None, None
        if customer is not None:
            if customer.ref.key not in lifecycles:
                lifecycles[customer.ref.key] = deps.customers.lifecycle(customer)
            agreement, unknown = billed_on(customer, lifecycles[customer.ref.key], hour.hour)
        priced = price_of(deps.settings, hour.product_code, hour.dimension)
        problem = None
        if (expired := _not_kept(hour.hour, hour.region, deps.settings.audit_retention_days, floors, now)) is not None:
            problem = expired
        elif now < (final := hour.hour + PLACED_FROM):
            # a leaving buyer's usage is placed in an hour of theirs Marketplace still takes, and an hour not sealed has
            # no record of ours yet: what AWS billed there is not over-billed until what was due is final (review 28)
            problem = (
                "what was due in it is not final while Marketplace takes records of it (a leaving buyer's usage may "
                f"yet be placed there): refund it from {final:%Y-%m-%dT%H:%MZ}"
            )
        elif (token := before.get(refund_key(hour))) is not None:
            problem = f"refunded before (client token {token})"
        elif unknown is not None:
            problem = unknown
        elif agreement is None:
            problem = "no agreement known for this customer"
        elif priced is None:
            problem = f"no list price for {hour.dimension} in cdk.json: the refund's amount cannot be worked out"
        key = (agreement, hour.hour.year, hour.hour.month, problem)
        proposal = grouped.setdefault(key, Proposal(agreement, hour.hour.year, hour.hour.month, problem=problem))
        proposal.hours.append(hour)
        if (failed_id := failed.get(refund_key(hour))) is not None:
            proposal.after.add(failed_id)
        if priced is not None:
            price, currency = priced
            proposal.charge += hour.excess * price
            proposal.currency = currency
    for proposal in grouped.values():
        if proposal.problem is None:
            _price(proposal, book)
    return sorted(grouped.values(), key=lambda p: (p.year, p.month, p.agreement_id or "", p.problem or ""))


def _price(proposal: Proposal, book: InvoiceBook) -> None:
    """The invoice the refund goes on, and its amount: never above what AWS says may still be refunded."""
    assert proposal.agreement_id is not None
    if proposal.charge <= 0:
        proposal.problem = "nothing to refund at the list price"
        return
    invoices = [i for i in book.invoices(proposal.agreement_id, proposal.year, proposal.month) if i.max_adjustment > 0]
    if not invoices:
        proposal.problem = f"no invoice of {proposal.year}-{proposal.month:02d} with anything left to refund (yet)"
        return
    invoice = max(invoices, key=lambda i: i.max_adjustment)
    if invoice.currency != proposal.currency:
        proposal.problem = f"the invoice is in {invoice.currency}, the list price in {proposal.currency}"
        return
    proposal.invoice = invoice
    proposal.amount = min(proposal.charge, invoice.max_adjustment)
    proposal.capped = proposal.amount < proposal.charge
