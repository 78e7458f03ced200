"""``cli cancel-agreement AGREEMENT --reason REASON``: ask the buyer to let an agreement be cancelled (a test agreement
at go-live), through the Agreement Service's SendAgreementCancellationRequest.

A dry run is the default: it says what would be sent and to whom, and sends nothing; ``--send`` sends it. The request
carries a client token made from what it asks (agreement, reason, description) and the day, so running the command
again after a lost answer is the same request, never a second one. What becomes of it (the buyer has 7 days to approve
or reject) arrives as the request's events: kept as notices (``cli customers``), and an approved one ends the buyer
through the final-usage path as any end does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from typing import Any, TextIO

from operations.agreement_cancellation import (
    DESCRIPTION_LIMIT,
    REASON_CODES,
    CancellationRefused,
    CancellationUnavailable,
)
from operations.arguments import CommandError
from operations.target import Target, TargetError

AGREEMENT_ID = re.compile(r"^[A-Za-z0-9_/-]{1,64}$")  # the model's AgreementId
COLUMNS = [("AGREEMENT", "agreement"), ("REASON", "reason"), ("CUSTOMERS", "customers"), ("OUTCOME", "outcome")]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    command = commands.add_parser(
        "cancel-agreement",
        parents=[common],
        help="ask the buyer to let an agreement be cancelled (a test agreement at go-live): a dry run unless --send",
    )
    command.add_argument("agreement", help="the agreement id (agmt-...)")
    command.add_argument("--reason", required=True, choices=REASON_CODES, help="the reason code AWS records")
    command.add_argument("--description", help=f"why, in words the buyer reads (up to {DESCRIPTION_LIMIT} characters)")
    sent = command.add_mutually_exclusive_group()
    sent.add_argument("--dry-run", dest="send", action="store_false", help="say what would be sent (the default)")
    sent.add_argument("--send", dest="send", action="store_true", help="send the request")
    command.set_defaults(send=False)  # store_false's own default would be True: a dry run that sends


def client_token(agreement: str, reason: str, description: str | None, day: str) -> str:
    """The same request on the same day has the same token: a retry after a lost answer is that request again."""
    asked = "\0".join((agreement, reason, description or "", day))
    return "cancel-" + hashlib.sha256(asked.encode()).hexdigest()[:40]


def run_cancel(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    agreement = str(args.agreement)
    if not AGREEMENT_ID.fullmatch(agreement):
        raise CommandError(f"agreement {agreement!r}: an agreement id is 1 to 64 letters, digits, _, / or -")
    description = args.description
    if description is not None and not 1 <= len(description) <= DESCRIPTION_LIMIT:
        raise CommandError(f"--description: 1 to {DESCRIPTION_LIMIT} characters")
    now = target.deps.clock.now()
    token = client_token(agreement, args.reason, description, now.strftime("%Y-%m-%d"))
    # whose agreement it is, as far as we know (a test agreement's buyer may never have registered)
    known = [c for c in target.deps.customers.list_all() if c.agreement_id == agreement]
    row: dict[str, Any] = {
        "agreement": agreement,
        "reason": args.reason,
        "description": description,
        "client_token": token,
        "customers": ", ".join(c.ref.key for c in known) or "none registered",
    }
    if not args.send:
        row["outcome"] = "dry run: nothing sent (--send sends it)"
    else:
        if target.cancellations is None:
            raise TargetError("this target cannot reach the Agreement Service")
        try:
            made = target.cancellations().send(agreement, args.reason, description, token)
        except CancellationRefused as refused:
            row["outcome"] = f"refused: {refused}"
            _write(args, out, row)
            return 1
        except CancellationUnavailable as error:
            row["outcome"] = f"not sent ({error}): run the same command again"
            _write(args, out, row)
            return 1
        row.update(request_id=made.request_id, status=made.status)
        row["outcome"] = f"sent: {made.request_id} {made.status} (the buyer has 7 days to answer)"
    _write(args, out, row)
    return 0


def _write(args: argparse.Namespace, out: TextIO, row: dict[str, Any]) -> None:
    if args.json:
        out.write(json.dumps(row, indent=2) + "\n")
        return
    widths = [max(len(heading), len(str(row.get(key) or ""))) for heading, key in COLUMNS]
    lines = [[heading for heading, _ in COLUMNS], [str(row.get(key) or "") for _, key in COLUMNS]]
    for line in lines:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
