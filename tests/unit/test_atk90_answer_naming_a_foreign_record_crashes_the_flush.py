"""Attack 90 on 7240bf6: a 200 answer that names a record the call did not contain (another hour, another customer,
or an entry without a Status) makes ``Boto3MeteringGateway._outcome`` raise a bare ``KeyError`` *after* the call,
outside the ``try`` that turns an unreadable answer into ``MeteringUnavailable`` (attack 89's rule: "an unreadable
answer is no answer"). The ``KeyError`` escapes ``Sender.deliver`` and the flush worker: ``future.result()`` re-raises
it and the whole flush run fails (no unsent mark moved, no continuation scheduled), and the outcomes the same answer
did give for the call's other records (Marketplace billed them: ``Success`` with MeteringRecordIds) are thrown away.
Marketplace answers an identical resend identically, so a deterministic echo mismatch fails every run at the same
call: those 25 records stay ``pending`` for good while billed, and the reconciliation stops at their hour.

At stake: up to 25 records billed at Marketplace but never marked sent per such call, every flush run failed, and the
reconciliation of every later hour blocked.

Suggested fix: parse the answer inside the classification: in ``_outcome`` skip (log) an entry that names no record
of the call (the Sender then resends the records named nowhere, as attack 89 made it), and turn any other parse
failure of a 200 (missing ``Status``/``UsageRecord``) into ``MeteringUnavailable``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.flush.records import MeteringError, MeteringRecord
from functions.flush.sender import Backoff, Sender, SendTally, TokenBucket
from functions.marketplace.metering import Boto3MeteringGateway

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
LICENCE = "arn:aws:license-manager::294406891311:license:l-{:04d}"


def _record(n: int) -> MeteringRecord:
    return MeteringRecord(
        key=f"p#{LICENCE.format(n)}#calls",
        hour=HOUR,
        product_code="p",
        customer_key=LICENCE.format(n),
        customer_aws_account_id="111122223333",
        dimension="calls",
        quantity=Decimal(3),
        integer=True,
        license_arn=LICENCE.format(n),
    )


def _usage(n: int, hour: datetime = HOUR) -> dict[str, Any]:
    return {
        "Timestamp": hour,
        "Dimension": "calls",
        "CustomerAWSAccountId": "111122223333",
        "LicenseArn": LICENCE.format(n),
        "Quantity": 3,
    }


class _Client:
    """Answers 200: record 0 billed, and an entry that names no record of the call (``odd``)."""

    def __init__(self, odd: dict[str, Any]) -> None:
        self.calls: list[list[str]] = []
        self._odd = odd

    def batch_meter_usage(self, **request: Any) -> dict[str, Any]:
        self.calls.append([u["LicenseArn"] for u in request["UsageRecords"]])
        named = [u["LicenseArn"] for u in request["UsageRecords"]]
        results = []
        if LICENCE.format(0) in named:
            results.append({"UsageRecord": _usage(0), "Status": "Success", "MeteringRecordId": "id-0"})
        if LICENCE.format(1) in named:
            results.append(self._odd)
        return {"Results": results, "UnprocessedRecords": []}


ODD_ANSWERS = {
    "another hour": {"UsageRecord": _usage(1, HOUR + timedelta(hours=1)), "Status": "Success", "MeteringRecordId": "x"},
    "another customer": {"UsageRecord": _usage(7), "Status": "Success", "MeteringRecordId": "x"},
    "no status": {"UsageRecord": _usage(1), "MeteringRecordId": "x"},
}


@pytest.mark.parametrize("odd", list(ODD_ANSWERS))
def test_an_answer_naming_no_record_of_the_call_is_no_answer_for_it(odd: str) -> None:
    client = _Client(ODD_ANSWERS[odd])
    gateway = Boto3MeteringGateway(client)
    sender = Sender(gateway, TokenBucket(1000, sleep=lambda _: None), Backoff(sleep=lambda _: None, attempts=2), bool)
    tally = SendTally()
    # Given a call Marketplace answers 200, billing record 0, with an entry for record 1 that names no record sent
    try:
        results = sender.deliver([_record(0), _record(1)], tally)
    except MeteringError:
        raise
    except Exception as error:
        pytest.fail(f"the answer's entry killed the flush run: {type(error).__name__}: {error}")
    # Then record 0's billing is kept, and record 1 (of unknown outcome) is resent, then left pending
    assert [(r.record.key, r.status, r.metering_record_id) for r in results if r.record == _record(0)] == [
        (_record(0).key, "sent", "id-0")
    ]
    assert _record(1) in tally.left_pending or any(r.record == _record(1) for r in results)


class _EchoingMarketplace:
    """A client that bills every record of a call (Success) and echoes each, but echoes customer 5's with its
    timestamp a second into the next hour (an echo that maps to no record of the call), every time."""

    def __init__(self) -> None:
        self.billed: dict[str, str] = {}

    def batch_meter_usage(self, **request: Any) -> dict[str, Any]:
        results = []
        for usage in request["UsageRecords"]:
            self.billed.setdefault(usage["LicenseArn"], f"id-{len(self.billed)}")
            echo = dict(usage)
            if usage["LicenseArn"] == LICENCE.format(5):
                echo["Timestamp"] = usage["Timestamp"] + timedelta(hours=1)
            results.append(
                {"UsageRecord": echo, "Status": "Success", "MeteringRecordId": self.billed[usage["LicenseArn"]]}
            )
        return {"Results": results, "UnprocessedRecords": []}


def test_one_odd_echo_neither_fails_the_run_nor_loses_the_calls_outcomes() -> None:
    from functions.clock import ManualClock
    from functions.flush.service import FlushDeps, flush
    from functions.settings import Dimension, Product, Settings
    from tests.fakes import InMemoryCustomers, InMemoryLedger, InMemoryUsage, licence_buyers_usage

    usage = InMemoryUsage()
    usage.add(licence_buyers_usage(30, HOUR + timedelta(minutes=10), 3))
    marketplace = _EchoingMarketplace()
    deps = FlushDeps(
        settings=Settings(products=(Product(code="p", name="P", dimensions=(Dimension("calls"),)),)),
        usage=usage,
        ledger=InMemoryLedger(),
        customers=InMemoryCustomers(),
        gateway=Boto3MeteringGateway(marketplace),
        clock=ManualClock(HOUR + timedelta(hours=1, minutes=6)),
        backoff=Backoff(sleep=lambda _: None),
        workers=1,
        limiter=TokenBucket(1000, sleep=lambda _: None),
    )
    # Given a flush whose first call (25 buyers, customer 5 among them) Marketplace bills, answering 200 with one echo
    # that names no record of the call
    try:
        flush(deps, remaining_ms=lambda: 900_000)
    except KeyError as error:
        billed = len(marketplace.billed)
        pending = sum(e.status == "pending" for e in deps.ledger.entries_of_hour(HOUR))
        pytest.fail(f"the flush run failed ({error!r}): {billed} records billed, {pending} still marked pending")
    # Then every record Marketplace answered for is marked sent; only customer 5's is of unknown outcome
    still_pending = [e.record.customer_key for e in deps.ledger.entries_of_hour(HOUR) if e.status == "pending"]
    assert still_pending in ([], [f"LICENSE#{LICENCE.format(5)}"])
