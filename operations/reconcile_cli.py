"""``cli reconcile``: the reconciliation as a table (or ``--json``), exit status 1 when anything disagrees, so a
scheduled job can alarm on it."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from functions.customers.model import Customer
from functions.customers.subjects import licence_id
from functions.flush.audit import Unreadable, quantity_text
from functions.lifecycle.agreement_entitlements import (
    AgreementEntitlement,
    AgreementEntitlementReader,
    AgreementEntitlementsUnavailable,
)
from operations.queries import Selection, customer_names
from operations.reconcile import ReconciledRow, Reconciliation, reconcile_regions
from operations.target import Target, TargetError

COLUMNS: list[tuple[str, str]] = [
    ("HOUR", "hour"),
    ("REGION", "region"),
    ("PRODUCT", "product"),
    ("ACCOUNT", "account"),
    ("DIMENSION", "dimension"),
    ("ACCEPTED", "accepted"),
    ("SEALED", "sealed"),
    ("STATUS", "status"),
    ("MARKETPLACE", "marketplace"),
    ("RECORD ID", "metering_record_id"),
    ("CLOUDTRAIL", "cloudtrail"),
    ("MISMATCH", "mismatch"),
    ("CARRIED", "carried_text"),
    ("ENTITLEMENT", "entitlement"),
]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """The ``reconcile`` subcommand, its window named ``--from``/``--to`` (``--since``/``--until`` also work)."""
    command = commands.add_parser(
        "reconcile",
        parents=[common],
        help="per customer, dimension and hour: accepted, sealed, Marketplace's answer and CloudTrail; exit 1 on a "
        "mismatch",
    )
    command.add_argument("--from", "--since", dest="since", default="24h", help="ISO time or 90m/6h/2d ago (24h)")
    command.add_argument("--to", "--until", dest="until", default="0m", help="ISO time or 90m/6h/2d ago (now)")
    command.add_argument("--product", help="product code")
    command.add_argument("--customer", help="licence ARN, AWS account id or legacy customer identifier")
    command.add_argument("--dimension", help="dimension name")


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else quantity_text(value)


def _hour(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H:00Z")


def row_json(row: ReconciledRow) -> dict[str, Any]:
    return {
        "hour": _hour(row.hour),
        "region": row.region,
        "product": row.product_code,
        "account": row.customer_aws_account_id,
        "customer": row.customer,
        "dimension": row.dimension,
        "accepted": _amount(row.accepted),
        "events": row.events,
        "sealed": _amount(row.sealed),
        "status": row.status,
        "metering_record_id": row.metering_record_id,
        "marketplace": row.marketplace,
        "cloudtrail": _amount(row.cloudtrail),
        "cloudtrail_status": row.cloudtrail_status,
        "mismatch": row.mismatch,
        "detail": row.detail,
        "carried": [
            {"units": quantity_text(c.units), "from": _hour(c.source), "into": None if c.parked else _hour(c.into)}
            for c in row.carried
        ],
    }


def run_reconcile(target: Target, selection: Selection, as_json: bool, out: TextIO, table: Any) -> int:
    """Print the reconciliation; 1 when any row disagrees or a CloudTrail result could not be read, else 0."""
    try:
        result = reconcile_regions(target.regions(), selection)
    except ValueError as error:
        raise TargetError(f"{target.name}: {error}") from None
    reader = target.agreement_entitlements() if target.agreement_entitlements is not None else None
    write(result, as_json, out, table, entitlements(list(target.deps.customers.list_all()), result, reader))
    return 1 if result.mismatches or result.unreadable else 0


def unreadable_text(unreadable: Sequence[Unreadable]) -> str:
    """How many CloudTrail results could not be read, and the commonest reason (what a person acts on)."""
    [(why, _)] = Counter(u.why for u in unreadable).most_common(1)
    return (
        f"{len(unreadable)} CloudTrail results could not be read, so were not checked (such as: {why}); "
        "the CloudTrail console shows their events"
    )


def entitlements(
    listed: list[Customer], result: Reconciliation, reader: AgreementEntitlementReader | None
) -> dict[str, str]:
    """Each reconciled buyer's entitlement, as GetAgreementEntitlements reports it for their agreement (their
    licence's): PROVISIONED, SCHEDULED, PENDING, FAILED or DEPROVISIONED, with AWS's reason code; by customer name."""
    if reader is None:
        return {}
    asked: dict[str, list[AgreementEntitlement] | str] = {}
    shown: dict[str, str] = {}
    for name in {row.customer for row in result.rows}:
        found = next((c for c in listed if name in customer_names(c)), None)
        if found is None or found.agreement_id is None:
            continue
        if found.agreement_id not in asked:
            try:
                asked[found.agreement_id] = reader.of(found.agreement_id)
            except AgreementEntitlementsUnavailable as error:
                asked[found.agreement_id] = f"unavailable ({error})"
        answer = asked[found.agreement_id]
        if isinstance(answer, str):
            shown[name] = answer
            continue
        licence = licence_id(found.ref.license_arn)
        mine = [e for e in answer if licence is None or licence_id(e.licence_arn) == licence] or answer
        shown[name] = ", ".join(f"{e.status or '?'}" + (f" ({e.reason})" if e.reason else "") for e in mine) or "none"
    return shown


def write(
    result: Reconciliation, as_json: bool, out: TextIO, table: Any, entitled: dict[str, str] | None = None
) -> None:
    rows = [{**row_json(r), "entitlement": (entitled or {}).get(r.customer)} for r in result.rows]
    if as_json:
        document = {
            "from": result.since.isoformat(),
            "to": result.until.isoformat(),
            "regions": list(result.regions),
            "cloudtrail_checked": result.cloudtrail_checked,
            "mismatches": len(result.mismatches),
            "unreadable": [{"event_id": u.event_id, "why": u.why} for u in result.unreadable],
            "rows": rows,
        }
        out.write(json.dumps(document, indent=2) + "\n")
        return
    shown = [
        {**row, "carried_text": "; ".join(c.text for c in r.carried)} for r, row in zip(result.rows, rows, strict=True)
    ]
    out.write((table(shown, COLUMNS) if rows else "no usage, records or CloudTrail results in these hours") + "\n")
    if not result.cloudtrail_checked:
        out.write("CloudTrail not checked: these hours are older than its 90 days of event history\n")
    if result.unreadable:
        out.write(unreadable_text(result.unreadable) + "\n")
    out.write(f"Regions read: {', '.join(result.regions)}\n")
    mismatches = result.mismatches
    if not mismatches:
        out.write(f"\n{len(rows)} rows, no mismatches\n")
        return
    out.write(f"\n{len(mismatches)} mismatches:\n")
    listed: Sequence[dict[str, Any]] = [{**row_json(r), "why": f"{r.mismatch}: {r.detail}"} for r in mismatches]
    out.write(
        table(
            listed,
            [
                ("HOUR", "hour"),
                ("REGION", "region"),
                ("ACCOUNT", "account"),
                ("CUSTOMER", "customer"),
                ("DIMENSION", "dimension"),
                ("WHY", "why"),
            ],
        )
        + "\n"
    )
