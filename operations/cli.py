"""The operator's command line: ``python -m operations.cli COMMAND [options]``.

Commands: ``customers``, ``usage``, ``failed``, ``redrive``, ``flush``, ``forget-customer``, ``set-tenant``,
``reconcile``, ``report``, ``adjust``, ``cancel-agreement``, ``doctor``. Runs against the local stack (the default
while ``make run`` is up, or when DYNAMODB_ENDPOINT is set) or a deployed stack (``--stack NAME [--profile P]
[--region R]``). Aligned tables for people, ``--json`` for scripts. Exit status: 0 done, 1 AWS or storage failed
(``reconcile``: a mismatch found; ``doctor``: a check failed; ``cancel-agreement``, ``adjust``: refused or not sent),
2 the command was wrong (an unknown command, product, customer, dimension or stack;
a bad option).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from functions.customers.model import Customer
from functions.flush.audit import TrailUnavailable
from functions.flush.records import MeteringEntry
from functions.settings import METERING_MODES, InvalidField, Settings, SettingsError
from functions.storage.errors import StorageError
from operations import arguments, estimates
from operations.adjust_cli import add_parser as add_adjust_parser
from operations.adjust_cli import run_adjust, run_settle
from operations.agreement_billing import AgreementBillingUnavailable
from operations.arguments import CommandError, OneLineParser, moment, one_line, within_records
from operations.cancel_cli import add_parser as add_cancel_parser
from operations.cancel_cli import run_cancel
from operations.doctor import examine, report
from operations.doctor_target import deployed_doctor, local_doctor
from operations.erasure import forget_customer
from operations.flushing import FlushProgress
from operations.queries import Selection, UnknownName, customer_notices, customers, parked, select, usage
from operations.reconcile_cli import add_parser as add_reconcile_parser
from operations.reconcile_cli import run_reconcile
from operations.redrive import RedriveOutcome, redrive, refusal
from operations.report_cli import ReportError, run_report
from operations.report_cli import add_parser as add_report_parser
from operations.target import Target, TargetError, deployed_target, local_settings, local_target
from operations.tenants import TenantRefused, set_tenant

ROOT = Path(__file__).resolve().parent.parent
RUN_FILE = ROOT / ".run" / "local.json"
__all__ = ["CommandError", "main", "moment", "parser"]


# --- output -------------------------------------------------------------------------------------------------------

Column = tuple[str, str]  # (heading, row key)
ENTRY_COLUMNS: list[Column] = [
    ("HOUR", "hour"),
    ("PRODUCT", "product"),
    ("ACCOUNT", "account"),
    ("CUSTOMER", "customer"),
    ("DIMENSION", "dimension"),
    ("QUANTITY", "quantity"),
    ("EVENTS", "events"),
    ("STATUS", "status"),
]


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Aligned columns under their headings; empty cells for missing values."""
    cells = [[heading for heading, _ in columns]]
    cells += [["" if row.get(key) is None else str(row[key]) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells)


def entry_row(entry: MeteringEntry) -> dict[str, Any]:
    record = entry.record
    return {
        "hour": record.hour.strftime("%Y-%m-%dT%H:00Z"),
        "product": record.product_code,
        "account": record.customer_aws_account_id,
        "customer": record.customer,
        "dimension": record.dimension,
        "quantity": format(record.quantity.normalize(), "f"),
        "events": record.events,
        "status": entry.status,
        "metering_record_id": entry.metering_record_id,
        "reason": entry.reason,
    }


def customer_row(customer: Customer) -> dict[str, Any]:
    ref = customer.ref
    return {
        "product": ref.product_code,
        "account": customer.customer_aws_account_id,
        "customer": ref.license_arn or ref.customer_identifier,
        "state": customer.state.value,
        "registered_at": customer.registered_at.isoformat() if customer.registered_at else None,
        "state_changed_at": customer.state_changed_at.isoformat(),
        "free_trial": customer.free_trial,
        "agreement_id": customer.agreement_id,
        "tenant": customer.tenant_id,
    }


class ProgressBar:
    """One line redrawn in place on ``stream`` (stderr), so stdout stays the result alone."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._drawn_width = 0

    def __call__(self, progress: FlushProgress) -> None:
        line = self.line(progress)
        # pad over a longer line drawn before
        self._stream.write("\r" + line.ljust(self._drawn_width))
        self._stream.flush()
        self._drawn_width = max(self._drawn_width, len(line))

    def line(self, progress: FlushProgress) -> str:
        if progress.pending is not None:
            return f"flushing... {progress.pending} records pending"
        known = max(progress.records_known, progress.records_done)
        filled = self._width * progress.records_done // known if known else 0
        bar = "#" * filled + "-" * (self._width - filled)
        return f"[{bar}] {progress.records_done}/{known} records, {progress.hours_sealed} hours sealed"

    def close(self) -> None:
        if self._drawn_width:
            self._stream.write("\n")


# --- the command line ---------------------------------------------------------------------------------------------


def stage_name(text: str) -> str:
    try:
        Settings(stage=text)  # the stack's own rule for a stage's name
    except InvalidField as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    return text


def run_doctor(args: argparse.Namespace, out: TextIO) -> int:
    """Exit 0 when every check passes, 1 when one fails."""
    if args.stage or args.stack or args.profile or args.region:
        if args.local:
            raise CommandError("--local and a deployed stack (--stage, --stack, --profile, --region): choose one")
        name = args.stack or deployed_stack_name(args.stage)
        deps = deployed_doctor(name, profile=args.profile, region=args.region)
    else:
        deps = local_doctor(args.run_file)
    checks = examine(deps, args.expect)
    out.write(report(checks, args.json) + "\n")
    return 0 if all(c.passed for c in checks) else 1


def parser() -> argparse.ArgumentParser:
    common = OneLineParser(add_help=False)
    common.add_argument("--json", action="store_true", help="JSON for scripts instead of a table")
    where = common.add_argument_group("target (default: the local stack)")
    where.add_argument("--local", action="store_true", help="the local stack (make run)")
    where.add_argument("--run-file", type=Path, default=RUN_FILE, help="the local stack's description file")
    where.add_argument("--stack", metavar="NAME", help="a deployed stack, found with the caller's AWS credentials")
    where.add_argument("--profile", help="AWS profile for --stack")
    where.add_argument("--region", help="AWS region for --stack")

    def filters(default_since: str) -> OneLineParser:
        chosen = OneLineParser(add_help=False)
        group = chosen.add_argument_group("filters")
        group.add_argument("--product", help="product code")
        group.add_argument("--customer", help="licence ARN, AWS account id or legacy customer identifier")
        group.add_argument("--dimension", help="dimension name")
        group.add_argument(
            "--since", default=default_since, help=f"ISO time or 90m/6h/2d ago (default {default_since})"
        )
        group.add_argument("--until", default="0m", help="ISO time or 90m/6h/2d ago (default now)")
        return chosen

    cli = OneLineParser(prog="python -m operations.cli", description=__doc__.split("\n\n")[0])
    commands = cli.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listed = commands.add_parser("customers", parents=[common], help="customers: state, licence, product, registration")
    listed.add_argument("--product", help="product code")
    listed.add_argument("--tenant", help="only the customers linked to this tenant id of yours")
    link = commands.add_parser(
        "set-tenant", parents=[common], help="link a customer to your own tenant id (cli customers --tenant finds it)"
    )
    link.add_argument("customer", help="licence ARN, AWS account id, legacy customer identifier or customer key")
    link.add_argument("tenant_id", help="your id for the buyer's account")
    link.add_argument("--product", help="product code (when the account holds several)")
    link.add_argument("--replace", action="store_true", help="move a customer linked to another tenant")
    commands.add_parser(
        "usage", parents=[common, filters("24h")], help="usage and metering results per customer, dimension, hour"
    )
    commands.add_parser("failed", parents=[common, filters("7d")], help="parked records and why")
    again = commands.add_parser(
        "redrive", parents=[common, filters("7d")], help="send parked records again, unchanged, once the cause is fixed"
    )
    again.add_argument("--dry-run", action="store_true", help="say what would be sent again, change nothing")
    forget = commands.add_parser(
        "forget-customer",
        parents=[common],
        help="erase a buyer's personal data (their form's answers); billing and audit records stay",
    )
    forget.add_argument("customer", help="licence ARN, AWS account id, legacy customer identifier or customer key")
    forget.add_argument("--product", help="product code (when the account holds several)")
    forget.add_argument("--dry-run", action="store_true", help="say which fields would be erased, change nothing")
    run = commands.add_parser("flush", parents=[common], help="seal closed hours and send what is unsent, now")
    shown = run.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress", action="store_true", default=None, help="show the progress bar (default: on a tty)"
    )
    shown.add_argument("--no-progress", dest="progress", action="store_false")
    add_reconcile_parser(commands, common)
    add_report_parser(commands, common)
    add_cancel_parser(commands, common)
    add_adjust_parser(commands, common)
    doctor = commands.add_parser(
        "doctor",
        parents=[common],
        help="is the stack ready to bill? each check on a line: what it found, and the fix (exit 1 when one fails)",
    )
    doctor.add_argument("--stage", type=stage_name, help="the deployed stack of this stage (<stack_name>-<stage>)")
    doctor.add_argument("--expect", choices=METERING_MODES, help="the metering mode the stage must have")
    return cli


def deployed_stack_name(stage: str | None) -> str:
    """The stack cdk.json deploys (``stack_name``), or its stage's: ``<stack_name>-<stage>``."""
    configured = json.loads((ROOT / "cdk.json").read_text())["context"]["marketplace"]
    name = str(configured.get("stack_name", "MarketplaceMetering"))
    return f"{name}-{stage}" if stage else name


def choose_target(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    if args.stack:
        if args.local:
            raise CommandError("--local and --stack: choose one")
        region = arguments.region_name(args.region) if args.region is not None else None
        return deployed_target(arguments.stack_name(args.stack), profile=args.profile, region=region)
    if args.profile or args.region:
        raise CommandError("--profile and --region go with --stack NAME")
    found = local_settings(arguments.file_name(args.run_file, "--run-file"), environ)
    if found is None:
        raise TargetError(
            f"no local stack: start one with `make run` (it writes {args.run_file}), set DYNAMODB_ENDPOINT, "
            "or name a deployed one with --stack NAME"
        )
    return local_target(found.settings, credentials=found.credentials, regions=found.regions)


def _selection(args: argparse.Namespace, target: Target) -> Selection:
    now = target.deps.clock.now()
    kept = target.deps.settings.audit_retention_days
    first, last = ("--from", "--to") if args.command in ("reconcile", "adjust") else ("--since", "--until")
    since = within_records(moment(args.since, now, first), now, kept, first)
    until = within_records(moment(args.until, now, last), now, kept, last)
    if since > until:
        raise CommandError(f"{first} ({since.isoformat()}) is after {last} ({until.isoformat()})")
    return select(
        target.deps,
        since=since,
        until=until,
        product=args.product,
        customer=args.customer,
        dimension=args.dimension,
    )


def _redrive_row(outcome: RedriveOutcome) -> dict[str, Any]:
    return {**entry_row(outcome.entry), "outcome": outcome.outcome, "why": outcome.why or None}


def run(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO) -> int | None:
    def emit(rows: list[dict[str, Any]], columns: Sequence[Column], empty: str) -> None:
        if args.json:
            out.write(json.dumps(rows, indent=2) + "\n")
        else:
            out.write((table(rows, columns) if rows else empty) + "\n")

    if args.command == "customers":
        tenant = arguments.tenant_id(args.tenant, "--tenant") if args.tenant is not None else None
        listed = customers(target.deps, args.product, tenant)
        of_customer, unlinked = customer_notices(target.deps)
        rows = [customer_row(c) for c in listed]
        for customer, row in zip(listed, rows, strict=True):
            row["notices"] = [n.summary() for n in of_customer.get(customer.ref.key, [])]
        if not args.json:  # what AWS said of each one's agreements: an advisory, a cancellation, a refund, a reminder
            for row in rows:
                row["notices"] = "; ".join(row["notices"]) or None
        emit(
            rows,
            [
                ("PRODUCT", "product"),
                ("ACCOUNT", "account"),
                ("CUSTOMER", "customer"),
                ("STATE", "state"),
                ("REGISTERED", "registered_at"),
                ("STATE SINCE", "state_changed_at"),
                ("TENANT", "tenant"),
                ("NOTICES", "notices"),
            ],
            "no customers",
        )
        if unlinked and not args.json and tenant is None and args.product is None:
            out.write("\nagreements of no registered customer:\n")
            notes = [{"agreement": n.agreement_id, "at": n.at.isoformat(), "notice": n.summary()} for n in unlinked]
            out.write(table(notes, [("AGREEMENT", "agreement"), ("AT", "at"), ("NOTICE", "notice")]) + "\n")
    elif args.command == "set-tenant":
        links = set_tenant(target.deps, args.customer, args.tenant_id, product=args.product, replace=args.replace)
        emit(
            [
                {**customer_row(k.customer), "tenant": args.tenant_id, "outcome": k.outcome, "previous": k.previous}
                for k in links
            ],
            [
                ("PRODUCT", "product"),
                ("CUSTOMER", "customer"),
                ("TENANT", "tenant"),
                ("OUTCOME", "outcome"),
                ("PREVIOUS", "previous"),
            ],
            "no such customer",
        )
    elif args.command == "usage":
        # every Region that meters (cdk.json `regions`), each hour's rows side by side
        selection, regions = _selection(args, target), target.regions()
        found = sorted(
            ((r.name, e) for r in regions for e in usage(r.deps, selection)), key=lambda pair: pair[1].record.hour
        )
        emit(
            [{**entry_row(e), "region": name, **estimates.row_fields(target.deps.settings, e)} for name, e in found],
            [
                ENTRY_COLUMNS[0],
                ("REGION", "region"),
                *ENTRY_COLUMNS[1:],
                ("RECORD ID", "metering_record_id"),
                ("REASON", "reason"),
                ("EST.", "estimated_charge"),
            ],
            "no usage in these hours",
        )
        used = [e for _, e in found]
        monthly = estimates.monthly_rows(estimates.monthly(target.deps.settings, used))
        if not args.json:
            out.write(f"Regions read: {', '.join(r.name for r in regions)}\n")
        if monthly and not args.json:
            out.write(f"\n{estimates.LABEL}\n{table(monthly, estimates.MONTHLY_COLUMNS)}\n")
    elif args.command == "failed":
        now = target.deps.clock.now()
        rows = []
        for entry in parked(target.deps, _selection(args, target)):
            why_not = refusal(entry, now)
            rows.append({**entry_row(entry), "redrive": "yes" if why_not is None else f"no: {why_not}"})
        emit(rows, [*ENTRY_COLUMNS, ("REASON", "reason"), ("REDRIVE", "redrive")], "no parked records")
    elif args.command == "redrive":
        outcomes = redrive(target.deps, _selection(args, target), dry_run=args.dry_run)
        emit(
            [_redrive_row(o) for o in outcomes],
            [*ENTRY_COLUMNS, ("OUTCOME", "outcome"), ("WHY", "why")],
            "no parked records",
        )
        if not args.json and any(o.outcome == "requeued" for o in outcomes):
            out.write("requeued records are sent by the next flush: run `flush` to send them now\n")
    elif args.command == "forget-customer":
        erasures = forget_customer(
            target.deps, target.contacts, args.customer, product=args.product, dry_run=args.dry_run
        )
        emit(
            [{**customer_row(e.customer), "outcome": e.outcome, "fields": ", ".join(e.fields)} for e in erasures],
            [
                ("PRODUCT", "product"),
                ("ACCOUNT", "account"),
                ("CUSTOMER", "customer"),
                ("OUTCOME", "outcome"),
                ("FIELDS", "fields"),
            ],
            "no such customer",
        )
        for erasure in erasures:  # the request's trace: who, what was erased (field names, never values), when
            if erasure.outcome == "erased":
                err.write(
                    f"{target.deps.clock.now().isoformat()} erased the personal data of {erasure.customer.ref.key}: "
                    f"{', '.join(erasure.fields)}\n"
                )
    elif args.command == "reconcile":
        return run_reconcile(target, _selection(args, target), args.json, out, table)
    elif args.command == "report":
        return run_report(target, args.month, arguments.new_file(args.html, "--html"), out)
    elif args.command == "cancel-agreement":
        return run_cancel(args, target, out)
    elif args.command == "adjust" and args.settle:
        return run_settle(args, target, out, table)
    elif args.command == "adjust":
        return run_adjust(args, target, _selection(args, target), out, table)
    elif args.command == "flush":
        bar = ProgressBar(err)
        show = err.isatty() if args.progress is None else args.progress
        try:
            summary = target.run_flush(bar if show else lambda _: None)
        finally:
            bar.close()
        if args.json:
            out.write(json.dumps(summary, indent=2) + "\n")
        else:
            rows = [{"name": k, "value": json.dumps(v) if isinstance(v, dict) else v} for k, v in summary.items()]
            out.write(table(rows, [("FLUSH", "name"), ("", "value")]) + "\n")
    return None


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    target: Callable[[argparse.Namespace], Target] | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parser().parse_args(argv)
        if args.command == "doctor":  # it finds its own stack: CloudFormation's outputs, its rules, queues, alarms
            return run_doctor(args, out)
        chosen = target(args) if target else choose_target(args, os.environ if environ is None else environ)
        status = run(args, chosen, out, err)
    except SystemExit as exit_:  # --help was printed
        return int(exit_.code or 0)
    except (UnknownName, CommandError, TargetError, SettingsError, TenantRefused, ReportError) as error:
        err.write(f"error: {one_line(str(error))}\n")
        return 2
    except (StorageError, ClientError, BotoCoreError, TrailUnavailable, AgreementBillingUnavailable) as error:
        err.write(f"error: {one_line(str(error))}\n")
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
