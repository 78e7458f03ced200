"""``cli report --month YYYY-MM --html FILE``: the month's report as one self-contained HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from operations.arguments import shown
from operations.report import build
from operations.report_html import render
from operations.target import Target


class ReportError(ValueError):
    """The report cannot be made as asked (a bad month, a file that cannot be written); the message names it."""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    command = commands.add_parser(
        "report",
        parents=[common],
        help="a month's totals, charts and mismatches as one self-contained HTML file (opens offline)",
    )
    command.add_argument("--month", required=True, help="the month, such as 2026-11")
    command.add_argument("--html", required=True, type=Path, metavar="FILE", help="where to write the report")


def run_report(target: Target, month: str, path: Path, out: TextIO) -> int:
    try:
        report = build(target.regions(), month)
    except ValueError as error:
        raise ReportError(str(error)) from None
    try:
        path.write_text(render(report), encoding="utf-8")
    except OSError as error:
        raise ReportError(f"--html: cannot write {shown(str(path))}: {error.strerror}") from None
    except ValueError:  # a NUL in the path
        raise ReportError(f"--html: {shown(str(path))} is not a file name") from None
    records = sum(d.records_billed for d in report.dimensions)
    unread = f", {len(report.unreadable)} CloudTrail results could not be read" if report.unreadable else ""
    out.write(f"wrote {path}: {records} records billed, {len(report.mismatches)} mismatches{unread}\n")
    return 0
