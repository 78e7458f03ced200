"""Attack 84 on dba77fc (a chunk keeps each total in fixed width so an hour's items cost the same write units whatever
usage they total): only a quantity's whole part is fixed. A decimal dimension's total keeps as many fraction digits as
the buyers' events had (0 to 6), so the same 25 buyers cost DynamoDB another write unit per chunk written when their
totals gain digits (12.5 units each, then 12.500001): the item's size still follows the usage. DynamoDB cost only: every
record reads back exact and is sent as before (checked below)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.flush.calls import usage_record
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.records import MeteringRecord
from functions.settings import Settings
from local.tables import FIXED_DATE_RETENTION
from tests.integration.test_metering_ledger import HOUR, _item_bytes, _items, _record

DIMENSION = "object_storage_gigabyte_hours_standard_class_eu_1"  # 49 characters


def _decimal_record(n: int, quantity: str, hour: Any = HOUR) -> MeteringRecord:
    record = _record(n, hour=hour)
    return replace(
        record,
        key=record.key.replace("api_calls", DIMENSION),
        dimension=DIMENSION,
        quantity=Decimal(quantity),
        integer=False,
        events=4,
    )


def test_a_decimal_dimensions_chunk_costs_another_write_unit_when_its_totals_gain_fraction_digits(
    settings: Settings, dynamodb: Any
) -> None:
    ledger = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    later = HOUR + timedelta(hours=1)
    # Given the same 25 buyers of a decimal dimension in two hours, with four events each: 12.5 units in one hour,
    # 12.500001 units in the next (a millionth more, the dimension's own precision)
    coarse = [_decimal_record(n, "12.5") for n in range(25)]
    fine = [_decimal_record(n, "12.500001", later) for n in range(25)]
    # When each hour is stored (one call, one chunk each)
    ledger.write_pending(coarse)
    ledger.write_pending(fine)
    [coarse_item] = _items(settings, dynamodb)
    [fine_item] = _items(settings, dynamodb, later)
    # Then every record reads back as written and would be sent as before (no buyer is billed otherwise) ...
    assert {e.record for e in ledger.entries_of_hour(HOUR)} == set(coarse)
    assert [usage_record(e.record)["QuantityAsDecimal"] for e in ledger.entries_of_hour(later)] == ["12.500001"] * 25
    # ... but the two puts bill the same write units (1 KB each), as the change promises whatever usage is totalled:
    # they do not (5,0xx bytes, 5 units, against 5,1xx bytes, 6 units: each fraction digit is 25 bytes a chunk)
    write_units = [math.ceil(_item_bytes(item) / 1024) for item in (coarse_item, fine_item)]
    assert write_units[0] == write_units[1], (write_units, _item_bytes(coarse_item), _item_bytes(fine_item))
