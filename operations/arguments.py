"""The operator CLI's arguments: every one checked before anything is read or called, and every refusal one line
naming the option (``error: ...``, exit 2), whatever was typed: a newline, a NUL, 10 kB or bytes that are not UTF-8.
"""

from __future__ import annotations

import argparse
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from functions.customers.model import tenant_id_problem
from functions.settings import REGION_NAME

_RELATIVE = re.compile(r"(\d{1,9})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# CloudFormation's stack names: a letter, then letters, digits and hyphens, at most 128
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
# a time may name the future only this far: the end of today in any time zone
FUTURE_ALLOWANCE = timedelta(days=1)
_SHOWN = 60  # characters of a refused value echoed back


class CommandError(ValueError):
    """The command line is wrong; the message names the option."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its refusals raised as CommandError (one line, exit 2) instead of a usage block on stderr."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see {self.prog} --help)")


def shown(value: str) -> str:
    """``value`` as it may be echoed in a one-line message: quoted and escaped, a long one cut in the middle (its
    end is often what is wrong)."""
    if len(value) <= _SHOWN:
        return repr(value)
    half = _SHOWN // 2
    return f"{value[:half]!r}...{value[-half:]!r}"


def one_line(message: str) -> str:
    """``message`` on one printable line: control characters, and what is not UTF-8 (argv's surrogate escapes),
    written as escapes; at most a screenful."""
    escaped = "".join(c if _printable(c) else repr(c)[1:-1] for c in message)
    return escaped if len(escaped) <= 500 else escaped[:500] + "..."


def _printable(character: str) -> bool:
    return character.isprintable() and not 0xD800 <= ord(character) <= 0xDFFF


def moment(text: str, now: datetime, option: str) -> datetime:
    """``2026-11-26T09:00`` (UTC unless it says otherwise), ``2026-11-26``, or ``90m`` / ``6h`` / ``2d`` ago."""
    relative = _RELATIVE.fullmatch(text)
    try:
        if relative:
            return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        parsed = datetime.fromisoformat(text)
    except (OverflowError, ValueError):
        raise CommandError(
            f"{option}: {shown(text)} is neither an ISO time (2026-11-26T09:00Z) nor 90m, 6h, 2d ago within range"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def within_records(when: datetime, now: datetime, retention_days: int, option: str) -> datetime:
    """``when``, if it names a time our records may cover: not before the oldest kept (``audit_retention_days``,
    after which usage and metering records expire) and not past tomorrow."""
    oldest = now - timedelta(days=retention_days)
    if when < oldest:
        raise CommandError(
            f"{option}: {when.isoformat()} is before {oldest.isoformat()}: usage and records are kept "
            f"{retention_days} days (audit_retention_days)"
        )
    if when > now + FUTURE_ALLOWANCE:
        raise CommandError(f"{option}: {when.isoformat()} is more than a day ahead of now ({now.isoformat()})")
    return when


def file_name(path: Path, option: str) -> Path:
    """``path``, if its name is printable UTF-8 text: a newline or a NUL in it is a slip, not a file wanted."""
    if not all(_printable(c) for c in str(path)):
        raise CommandError(f"{option}: {shown(str(path))} is not a file name (control characters, or not UTF-8)")
    return path


def new_file(path: Path, option: str) -> Path:
    """``path``, if a file can be written there: checked before the work whose result it will hold."""
    file_name(path, option)
    directory = path.parent
    if not directory.is_dir():
        raise CommandError(f"{option}: {shown(str(directory))} is not a directory")
    if len(os.fsencode(path.name)) > os.pathconf(directory, "PC_NAME_MAX"):
        raise CommandError(f"{option}: the file name {shown(path.name)} is too long")
    return path


def tenant_id(value: str, option: str) -> str:
    if (problem := tenant_id_problem(value)) is not None:
        raise CommandError(f"{option}: {problem}")
    return value


def stack_name(value: str) -> str:
    if not _STACK_NAME.fullmatch(value):
        raise CommandError(f"--stack: {shown(value)} is not a stack name (a letter, then letters, digits and -)")
    return value


def region_name(value: str) -> str:
    if not REGION_NAME.fullmatch(value):
        raise CommandError(f"--region: {shown(value)} is not a Region name such as us-east-1")
    return value
