"""``cli adjust --from T --to T [--customer N] [--send]``: refund what was over-billed (``operations.adjust``).

A dry run is the default: it reads the reconciliation and the agreements' invoices and prints each refund it would
send (its invoice, amount, the most AWS allows, its client token) and each over-billed hour it cannot refund, and
why; it sends nothing. ``--send`` sends the refunds in one BatchCreateBillingAdjustmentRequest and shows each entry's
outcome: its billing adjustment, or the error AWS gave it alone. Exit 1 when an entry was refused, a refund sent
before is held (its answer never came and another refund holds some of its hours), or CloudTrail logged results it
could not read (not checked: what they over-billed is neither refunded nor known). A window starting past
CloudTrail's 90 days is refused (``--from``): none of it could be checked.

``cli adjust --settle [--send]`` asks AWS what became of every refund kept without its answer
(``operations.refund_settlement``) and, with ``--send``, keeps what it learns: the adjustment AWS made of one, or that
AWS never took one (kept void: never sent again, its hours free). It sends no refund. Exit 1 while one's fate is
still not known.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from functions.customers.notices import AgreementNotice, NoticeKind, notice_key
from functions.flush.audit import quantity_text
from functions.flush.records import RetentionFloor
from operations.adjust import (
    InvoiceBook,
    Proposal,
    claim_aliases,
    claim_keys,
    former_keys,
    hours_named,
    over_billed,
    proposals,
    refund_key,
    unkept,
)
from operations.agreement_billing import RefundOutcome, amount_text
from operations.queries import MeteringRegion, OperationsDeps, Selection
from operations.reconcile import TRAIL_RETENTION, reconcile_regions
from operations.reconcile_cli import unreadable_text
from operations.refund_claims import AskedRefund, DynamoRefundClaims, EarlierRefunds, refunded_nothing
from operations.refund_settlement import Outcome, Settlement, Verdict, outcomes_unheard, settle
from operations.target import Target, TargetError

# an entry AWS refused outright the first time it was sent, refunding nothing (of the model's
# BillingAdjustmentErrorCode: not INTERNAL_FAILURE, which may have been taken, nor CONFLICT_EXCEPTION, which says AWS
# knows the token: another run's send of the same refund, attack 34)
REFUSED = frozenset({"VALIDATION_EXCEPTION", "RESOURCE_NOT_FOUND_EXCEPTION"})


COLUMNS = [
    ("MONTH", "month"),
    ("AGREEMENT", "agreement"),
    ("INVOICE", "invoice"),
    ("HOURS", "hours"),
    ("UNITS", "units"),
    ("AT LIST PRICE", "charge"),
    ("MAX", "max_adjustment"),
    ("REFUND", "amount"),
    ("OUTCOME", "outcome"),
]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    command = commands.add_parser(
        "adjust",
        parents=[common],
        help="refund what AWS over-billed (the reconciliation's hours), an invoice each: a dry run unless --send",
    )
    command.add_argument("--from", "--since", dest="since", default="7d", help="ISO time or 90m/6h/2d ago (7d)")
    # an hour is refunded once what was due in it is final, 25 hours after it (operations.adjust)
    command.add_argument(
        "--to",
        "--until",
        dest="until",
        default="25h",
        help="ISO time or 90m/6h/2d ago (25h: later hours are not final)",
    )
    command.add_argument("--product", help="product code")
    command.add_argument("--customer", help="licence ARN, AWS account id or legacy customer identifier")
    command.add_argument("--dimension", help="dimension name")
    sent = command.add_mutually_exclusive_group()
    sent.add_argument("--dry-run", dest="send", action="store_false", help="say what would be sent (the default)")
    sent.add_argument("--send", dest="send", action="store_true", help="send the refunds")
    command.set_defaults(send=False)  # store_false's own default would be True: a dry run that sends
    command.add_argument(
        "--settle",
        action="store_true",
        help="ask AWS what became of every refund sent without an answer (held ones too); --send keeps what it says",
    )


def row(proposal: Proposal) -> dict[str, Any]:
    return {
        "month": f"{proposal.year}-{proposal.month:02d}",
        "agreement": proposal.agreement_id,
        "invoice": proposal.invoice.invoice_id if proposal.invoice else None,
        "hours": len(proposal.hours),
        "units": quantity_text(sum((h.excess for h in proposal.hours), Decimal(0))),
        "charge": amount_text(proposal.charge),
        "currency": proposal.currency,
        "max_adjustment": amount_text(proposal.invoice.max_adjustment) if proposal.invoice else None,
        "amount": amount_text(proposal.amount) if proposal.amount is not None else None,
        "capped": proposal.capped,
        "client_token": proposal.client_token if proposal.problem is None else None,
        "over_billed": [
            {
                "hour": h.hour.strftime("%Y-%m-%dT%H:00Z"),
                "region": h.region or None,
                "customer": h.customer,
                "dimension": h.dimension,
                "billed": quantity_text(h.billed),
                "due": quantity_text(h.due),
            }
            for h in proposal.hours
        ],
        "outcome": (
            f"cannot refund: {proposal.problem}"
            if proposal.problem
            else "dry run: nothing sent" + (" (capped at maxAdjustmentAmount)" if proposal.capped else "")
        ),
    }


def _outcome(found: RefundOutcome | None) -> str:
    if found is None:
        return "no answer for this entry"
    if found.request_id is not None:
        return f"refund requested: {found.request_id}"
    return f"refused: {found.error_code}: {found.error}"


def _asked(proposal: Proposal) -> AskedRefund:
    keys = tuple(key for h in proposal.hours for key in claim_keys(h))
    units = quantity_text(sum((h.excess for h in proposal.hours), Decimal(0)))
    return AskedRefund(proposal.entry(), keys, f"{proposal.year}-{proposal.month:02d}", units)


def _again_row(asked: AskedRefund, outcome: str) -> dict[str, Any]:
    """A refund sent before whose answer never came, shown as a proposal's row."""
    entry = asked.entry
    return {
        "month": asked.month,
        "agreement": entry.agreement_id,
        "invoice": entry.invoice_id,
        "hours": hours_named(asked.keys),
        "units": asked.units,
        "charge": None,
        "currency": entry.currency,
        "max_adjustment": None,
        "amount": amount_text(entry.amount),
        "capped": False,
        "client_token": entry.client_token,
        "over_billed": [{"refund_key": k} for k in asked.keys],
        "outcome": outcome,
    }


def _failed_adjustments(deps: OperationsDeps) -> set[str]:
    """The billing adjustments AWS failed (``Purchase Agreement Billing Adjustment Failed``): they refunded nothing."""
    return _adjustments_heard(deps, ("FAILED",))


def _adjustments_heard(deps: OperationsDeps, statuses: tuple[str, ...] = ("COMPLETED", "FAILED")) -> set[str]:
    """The billing adjustments whose outcome event (Completed, Failed) was kept, of these statuses."""
    notices = deps.notices.notices() if deps.notices is not None else []
    return {
        n.details["request_id"]
        for n in notices
        if n.kind is NoticeKind.BILLING_ADJUSTMENT and n.status in statuses and "request_id" in n.details
    }


def _send(
    sending: list[tuple[AskedRefund, dict[str, Any], bool]],
    claims: DynamoRefundClaims,
    book: InvoiceBook,
    failed: Iterable[str],
    now: datetime,
) -> bool:
    """Send the refunds (each with its row, and whether it is one sent again), each kept and claimed first, and show
    each one's outcome in its row; True if any was not sent or not taken."""
    refused = False
    ready: list[tuple[AskedRefund, dict[str, Any], bool]] = []
    for asking, shown, resending in sending:
        # kept and claimed first: a refund whose answer is lost keeps its hours, never offered under another token
        if claims.claim(asking, now, replacing=failed):
            ready.append((asking, shown, resending))
        else:
            shown["outcome"] = "not sent: another adjust asked for one of these hours meanwhile; run it again"
            refused = True
    outcomes = {o.client_token: o for o in book.refund([a.entry for a, _, _ in ready])} if ready else {}
    for asking, shown, resending in ready:
        token = asking.entry.client_token
        found = outcomes.get(token)
        shown["outcome"] = _outcome(found)
        refused = refused or found is None or found.request_id is None
        if found is not None and found.request_id is not None:
            claims.answered(token, found.request_id)
        elif found is not None and not resending and found.error_code in REFUSED:
            # refused by AWS the first time it was sent (once: no retry, target._REFUNDS): nothing refunded, kept void,
            # its hours free in one write (a release's deletes, stopped midway or beside a run sending it again, left an
            # hour claimed by no refund: attacks 38 and 39); an answer another run keeps for it undoes that
            claims.void(replace(asking, sent=now), now)
        elif found is not None:
            if resending and found.error_code in REFUSED:
                claims.refused(token, now)  # never sent again: --settle tells whether an earlier send was taken
            # an INTERNAL_FAILURE may have been taken, and a resend's first send may have been (AWS documents neither
            # how long it keeps a token nor whether it looks at it before the room left: attack 34): kept, sent again
            # as it was by the next run, and the run exits 1 until AWS takes it or the operator learns its fate
            shown["outcome"] += (
                "; kept: whether AWS took its first send is not known (`cli adjust --settle` asks AWS); "
                if resending
                else "; kept: "
            ) + "the next adjust --send sends it again as it was"
    return refused


def run_adjust(args: argparse.Namespace, target: Target, selection: Selection, out: TextIO, table: Any) -> int:
    if target.trail is None or target.billing is None or target.refund_claims is None:
        raise TargetError(f"{target.name} has no CloudTrail or Agreement Service to refund against")
    if target.deps.clock.now() - selection.since >= TRAIL_RETENTION:
        # reconcile reads no CloudTrail for a window reaching past it: every hour of it would look unchecked
        raise TargetError(
            f"--from {selection.since:%Y-%m-%dT%H:%MZ}: CloudTrail keeps {TRAIL_RETENTION.days} days of event history, "
            "which refunds are worked out from: start the window within it"
        )
    # every metering Region's, as `cli reconcile` reads them: each bills on the same agreements' invoices
    regions = target.regions()
    try:
        reconciliation = reconcile_regions(regions, selection)
    except ValueError as error:
        raise TargetError(f"{target.name}: {error}") from None
    floors = _floors(regions)
    book = target.billing()
    claims = target.refund_claims()
    hours = over_billed(reconciliation, target.deps.customers.list_all(), target.deps.settings.region)
    products = (p.code for p in target.deps.settings.products)
    failed = _failed_adjustments(target.deps)
    earlier = claims.earlier([refund_key(h) for h in hours], failed, former_keys(hours), claim_aliases(products))
    stale = _stale(earlier, target, floors)
    again = [a for a in earlier.unanswered if a.entry.client_token not in stale]
    # hours an earlier refund asked for are left out of every other (a dry run shows it as the send would do)
    proposed = _proposed(
        lambda retried: proposals(target.deps, hours, book, earlier.asked, retried, floors), earlier, claims, failed
    )
    rows = [row(p) for p in proposed]
    again_rows = [_again_row(a, "dry run: sent before, no answer came; --send sends it again as it was") for a in again]
    ask_aws = "not sent again: `cli adjust --settle` asks AWS whether it took it"
    # another refund holds one of its hours: it may have refunded them, and whether AWS took this one is not known
    held = [
        _again_row(a, f"held: sent before, no answer came, and another refund holds some of its hours; {ask_aws}")
        for a in earlier.overlapping
    ]
    held += [
        _again_row(a, f"held: sent before, no answer came, and {stale[a.entry.client_token]}; {ask_aws}")
        for a in earlier.unanswered
        if a.entry.client_token in stale
    ]
    refused = bool(held)
    if args.send:
        # those sent again first: the room left was counted without them
        sending = [(a, r, True) for a, r in zip(again, again_rows, strict=True)]
        sending += [(_asked(p), r, False) for p, r in zip(proposed, rows, strict=True) if p.problem is None]
        refused = _send(sending, claims, book, earlier.failed, target.deps.clock.now()) or refused
    rows += again_rows + held
    # what CloudTrail logged and we could not read was not checked: what it over-billed is neither refunded nor known
    unchecked = unreadable_text(reconciliation.unreadable) if reconciliation.unreadable else None
    if args.json:
        document = {"from": selection.since.isoformat(), "to": selection.until.isoformat(), "refunds": rows}
        out.write(json.dumps(document | ({"unreadable": unchecked} if unchecked else {}), indent=2) + "\n")
    else:
        empty = "no over-billing found in what could be read" if unchecked else "nothing over-billed in these hours"
        out.write((table(rows, COLUMNS) if rows else empty) + "\n")
        if unchecked:
            out.write(f"not checked: {unchecked}\n")
    return 1 if refused or unchecked else 0


# a refund asked for after a failed one, which failed too, and so on: more than AWS failing each in turn would do
MAX_FAILED_IN_TURN = 10


def _proposed(
    propose: Callable[[Mapping[str, str]], list[Proposal]],
    earlier: EarlierRefunds,
    claims: DynamoRefundClaims,
    failed: set[str],
) -> list[Proposal]:
    """The refunds to propose (``propose``, given what each hour's refund is asked for after). One whose token is a
    refund that refunded nothing (AWS failed it, or it is void) is proposed after it, under a token of its own, as a
    refund of hours still claimed by one is: no claim names that refund any more (a refund of them asked for after it
    lost its claims: attacks 36 and 38), and its token again would be refused, on every run."""
    retried = dict(earlier.retried)
    proposed = propose(retried)
    for _ in range(MAX_FAILED_IN_TURN):
        tokens = [p.client_token for p in proposed if p.problem is None]
        kept = {a.entry.client_token: a for a in claims.refunds(tokens)} if tokens else {}
        after = {
            refund_key(hour): refunded_nothing(refund)
            for p in proposed
            if p.problem is None
            and (refund := kept.get(p.client_token)) is not None
            and (refund.request_id in failed or refund.void is not None)
            for hour in p.hours
        }
        if not after:
            break
        retried |= after
        proposed = propose(retried)
    return proposed


def _floors(regions: list[MeteringRegion]) -> dict[str, RetentionFloor]:
    """How long each Region's usage is surely kept (the main Region's hours name none)."""
    return {("" if n == 0 else r.name): r.deps.metering.retention_floor() for n, r in enumerate(regions)}


def _stale(earlier: EarlierRefunds, target: Target, floors: dict[str, RetentionFloor]) -> dict[str, str]:
    """The unanswered refunds never sent again, by token, with why: AWS refused it outright when it was sent again
    (whether an earlier send was taken is for ``--settle`` to tell: attacks 37 and 38), or what was due in one of its
    hours could not be told when it was worked out (its usage may have expired since an earlier version worked it
    out: attack 32). One worked out right is sent as it was, however old its hours are now."""
    now, setting = target.deps.clock.now(), target.deps.settings.audit_retention_days
    refused = {
        a.entry.client_token: f"AWS refused it outright when it was sent again ({a.refused:%Y-%m-%dT%H:%MZ})"
        for a in earlier.unanswered
        if a.refused is not None
    }
    return refused | {
        a.entry.client_token: why for a in earlier.unanswered if (why := unkept(a.keys, setting, floors, a.at or now))
    }


SETTLE_COLUMNS = [
    ("AGREEMENT", "agreement"),
    ("INVOICE", "invoice"),
    ("HOURS", "hours"),
    ("REFUND", "amount"),
    ("CLIENT TOKEN", "client_token"),
    ("OUTCOME", "outcome"),
]


def run_settle(args: argparse.Namespace, target: Target, out: TextIO, table: Any) -> int:
    """``cli adjust --settle``: every refund kept without an answer, whatever its hours, as AWS knows it."""
    if target.billing is None or target.refund_claims is None:
        raise TargetError(f"{target.name} has no Agreement Service to ask")
    lookup, claims = target.billing(), target.refund_claims()
    products = (p.code for p in target.deps.settings.products)
    # no hour of a window: every refund kept without an answer, and what holds its hours
    earlier = claims.earlier([], _failed_adjustments(target.deps), {}, claim_aliases(products))
    stale = _stale(earlier, target, _floors(target.regions()))
    refunds = [(a, a.entry.client_token in stale) for a in earlier.unanswered] + [
        (a, True) for a in earlier.overlapping
    ]
    # an earlier version kept no `sent`: it claimed a refund's hours again each time it sent it
    claimed = {a.entry.client_token: t for a, _ in refunds if a.sent is None and (t := claims.claimed_at(a))}
    now = target.deps.clock.now()
    answers = claims.answers()
    settled = settle(refunds, lookup, answers, now, claimed)
    rows = [_settled_row(s, keep=args.send) for s in settled]
    if args.send:
        for s, shown in zip(settled, rows, strict=True):
            if s.verdict is Verdict.TAKEN and s.adjustment is not None:
                claims.answered(s.refund.entry.client_token, s.adjustment.request_id)
            elif s.verdict is Verdict.NEVER_TAKEN and not claims.void(s.refund, now):
                shown["outcome"] = "AWS never took it, but a run sent it again meanwhile (or AWS's answer came): kept"
    # every answered refund no outcome event was kept of, as AWS has it: those this run found with AWS's adjustment in
    # hand, the others asked (attack 43: a dry run shows what --send keeps)
    heard = _adjustments_heard(target.deps)
    found = [
        Outcome(replace(s.refund, request_id=s.adjustment.request_id), s.adjustment)
        for s in settled
        if s.verdict is Verdict.TAKEN and s.adjustment is not None and s.adjustment.request_id not in heard
    ]
    answered = claims.refunds(answers.values())
    outcomes = [*found, *outcomes_unheard(answered, heard, lookup)]
    rows += [row for o in outcomes if (row := _outcome_row(o, keep=args.send)) is not None]
    if args.send:
        for outcome in outcomes:
            if (notice := _outcome_notice(outcome, now)) is not None:
                if target.keep_notice is None:
                    raise TargetError(f"{target.name} cannot keep what AWS says of an agreement")
                target.keep_notice(notice)
    if args.json:
        out.write(json.dumps({"refunds": rows}, indent=2) + "\n")
    else:
        out.write((table(rows, SETTLE_COLUMNS) if rows else "no refund is waiting for AWS's answer") + "\n")
    unknown = any(s.verdict is Verdict.UNSURE for s in settled) or any(o.error for o in outcomes)
    return 1 if unknown else 0


def _outcome_notice(outcome: Outcome, now: datetime) -> AgreementNotice | None:
    """What AWS's Purchase Agreement Billing Adjustment Completed or Failed would have kept
    (``functions.lifecycle.notifications``), for an outcome AWS has decided: a failed refund's hours are asked for again
    by the next adjust, and a refund AWS completed (its model: PENDING, then VALIDATION_FAILED or COMPLETED) is not
    asked of again (attack 43)."""
    adjustment = outcome.adjustment
    if adjustment is None or adjustment.status not in ("VALIDATION_FAILED", "COMPLETED"):
        return None
    entry, kind = outcome.refund.entry, NoticeKind.BILLING_ADJUSTMENT
    status = "FAILED" if adjustment.status == "VALIDATION_FAILED" else "COMPLETED"
    details = {
        "request_id": adjustment.request_id,
        "amount": f"-{amount_text(entry.amount)}",
        "currency": entry.currency,
        "reason_code": entry.reason_code,
        "invoice_id": entry.invoice_id,
    }
    return AgreementNotice(entry.agreement_id, kind, notice_key(kind, adjustment.request_id), status, now, details)


def _outcome_row(outcome: Outcome, *, keep: bool) -> dict[str, Any] | None:
    """A row for a refund AWS failed, or could not be asked of; None for one pending or completed (nothing to do)."""
    if outcome.error:
        said = f"not known: AWS was asked what became of it and answered {outcome.error}"
    elif outcome.adjustment is not None and outcome.adjustment.status == "VALIDATION_FAILED":
        then = "kept as failed: the next adjust asks for its hours again" if keep else "dry run: --send keeps it failed"
        said = f"AWS failed it: {outcome.adjustment.request_id}, VALIDATION_FAILED, no Failed event of it kept; {then}"
    else:
        return None
    entry = outcome.refund.entry
    return {
        "agreement": entry.agreement_id,
        "invoice": entry.invoice_id,
        "hours": hours_named(outcome.refund.keys),
        "amount": amount_text(entry.amount),
        "currency": entry.currency,
        "client_token": entry.client_token,
        "held": False,
        "outcome": said,
    }


def _settled_row(settled: Settlement, *, keep: bool) -> dict[str, Any]:
    entry = settled.refund.entry
    then = "kept" if keep else "dry run: --send keeps it"
    if settled.verdict is Verdict.TAKEN and settled.adjustment is not None:
        adjustment = settled.adjustment
        outcome = f"AWS took it: {adjustment.request_id}, {adjustment.status}; {then}: never sent again"
        if adjustment.status == "VALIDATION_FAILED":  # kept failed too, below, unless its Failed event was kept
            outcome += " (it refunded nothing)"
    elif settled.verdict is Verdict.NEVER_TAKEN:
        outcome = f"AWS never took it; {then}: void, never sent again, its hours free for the next adjust to refund"
    else:
        outcome = f"not known: {settled.why}"
    return {
        "agreement": entry.agreement_id,
        "invoice": entry.invoice_id,
        "hours": hours_named(settled.refund.keys),
        "amount": amount_text(entry.amount),
        "currency": entry.currency,
        "client_token": entry.client_token,
        "held": settled.held,
        "outcome": outcome,
    }
