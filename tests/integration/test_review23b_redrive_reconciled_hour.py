"""Review 23b: write_pending moves the reconciliation's cursor back to the hours it writes (a record in an hour
reconciled already is reconciled again, with it: seed 77's fix), but the operator's redrive (``requeue``) moves only
the unsent mark. A record parked in an hour the reconciliation has passed (its last word on that hour: "never
billed: InvalidLicenseException"), redriven once the cause is fixed, is then sent and billed, and its hour is never
reconciled again: the units billed for it are checked against CloudTrail by no run, and the hour's last
reconciliation says they were not billed. On DynamoDB Local, the ledger as deployed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.records import MeteringEntry, RecordResult
from functions.settings import Settings
from local.tables import FIXED_DATE_RETENTION
from tests.integration.test_metering_ledger import HOUR, _record


@pytest.fixture
def ledger(settings: Settings, dynamodb: Any) -> DynamoMeteringLedger:
    return DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)


def test_a_redriven_record_in_a_reconciled_hour_has_its_hour_reconciled_again(ledger: DynamoMeteringLedger) -> None:
    # Given a sealed hour whose one record (2 units) was parked, and the reconciliation three hours past it
    record = _record(1)
    ledger.write_pending([record])
    assert ledger.seal(HOUR)
    ledger.write_results([RecordResult(record, "failed", None, "InvalidLicenseException")])
    assert ledger.move_unsent_mark(ledger.unsent_mark(), HOUR + timedelta(hours=1))
    assert ledger.move_reconciled(None, HOUR + timedelta(hours=3))
    # When the operator redrives it (the next flush sends it: 2 units billed for HOUR)
    assert ledger.requeue(MeteringEntry(record, "failed", None, "InvalidLicenseException"))
    assert list(ledger.pending(ledger.unsent_mark())) == [record]
    # Then its hour is reconciled again, as one written by write_pending would be
    until = ledger.reconciled_until()
    assert until is not None
    assert until <= HOUR, f"reconciliation stays at {until:%H:%M}: {record.quantity} units of {HOUR:%H:%M} unchecked"
