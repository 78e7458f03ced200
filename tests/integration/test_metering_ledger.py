"""The metering ledger on DynamoDB Local: records packed in one item per call, outcomes written into them, the
unsent mark that replaces an index of unsent records, and items an earlier version wrote (one per record)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import CustomerRef
from functions.flush.calls import usage_record
from functions.flush.ledger import SHARDS, DynamoMeteringLedger
from functions.flush.records import MeteringEntry, MeteringRecord, RecordResult, RetentionFloor
from functions.settings import Settings
from functions.usage.model import Allocation
from local.tables import FIXED_DATE_RETENTION

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
DYNAMODB_ITEM_BYTES = 400 * 1024


def _record(n: int, product: str = "p-1", hour: datetime = HOUR, **fields: Any) -> MeteringRecord:
    licence = f"arn:aws:license-manager::294406891311:license:l-{n:032x}"
    customer = CustomerRef(product, license_arn=licence).key
    return MeteringRecord(
        key=f"{product}#{customer}#api_calls",
        hour=hour,
        product_code=product,
        customer_key=customer,
        customer_aws_account_id=f"{100000000000 + n}",
        dimension="api_calls",
        quantity=Decimal(n + 1),
        integer=True,
        license_arn=licence,
        events=n + 2,
        **fields,
    )


@pytest.fixture
def ledger(settings: Settings, dynamodb: Any) -> DynamoMeteringLedger:
    return DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)


def _partitions(hour: datetime = HOUR) -> list[str]:
    """The partition keys an hour's chunks are dealt over: ``REC#<hour>`` (where an earlier version kept them all), then
    ``REC#<hour>#1`` .. ``#7``."""
    return [f"REC#{hour:%Y-%m-%dT%H}" + (f"#{shard}" if shard else "") for shard in range(SHARDS)]


def _items(settings: Settings, dynamodb: Any, hour: datetime = HOUR) -> list[dict[str, Any]]:
    return [
        item
        for pk in _partitions(hour)
        for item in dynamodb.query(
            TableName=settings.metering_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )["Items"]
    ]


def _item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names and values (strings as UTF-8), enough for our attributes."""

    def size(value: dict[str, Any]) -> int:
        kind, inner = next(iter(value.items()))
        if kind == "M":
            return 3 + sum(len(k.encode()) + size(v) for k, v in inner.items())
        return len(str(inner).encode())

    return sum(len(name.encode()) + size(value) for name, value in item.items())


def test_an_hour_is_stored_as_one_item_per_call_and_read_back_as_written(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given 60 records of one product and 10 of another, one with allocations
    tagged = _record(3, allocations=(Allocation((("team", "a"),), Decimal(1)), Allocation((), Decimal(3))))
    records = [tagged, *(_record(n) for n in range(60) if n != 3), *(_record(n, "p-2") for n in range(10))]
    # When they are stored as the hour's pending records
    unsent = ledger.write_pending(records)
    # Then all are to be sent, stored in 4 items (25 + 25 + 10 of one product, 10 of the other: one call each)
    assert sorted(r.key for r in unsent) == sorted(r.key for r in records)
    items = _items(settings, dynamodb)
    assert sorted(len(json.loads(i["rs"]["S"])) for i in items) == [10, 10, 25, 25]
    # and read back field for field, each pending
    assert sorted(ledger.entries_of_hour(HOUR), key=lambda e: e.record.key) == sorted(
        (MeteringEntry(r, "pending") for r in records), key=lambda e: e.record.key
    )
    # When their outcomes are written
    results = [RecordResult(r, "sent", f"id-{r.key}") for r in records[:30]]
    results += [RecordResult(r, "failed", None, "InvalidLicenseException") for r in records[30:]]
    ledger.write_results(results)
    # Then each record carries its own outcome, and storing the hour again sends nothing and changes nothing
    assert {e.record.key: (e.status, e.metering_record_id, e.reason) for e in ledger.entries_of_hour(HOUR)} == {
        r.record.key: (r.status, r.metering_record_id, r.reason) for r in results
    }
    assert ledger.write_pending(records) == []
    assert len(_items(settings, dynamodb)) == 4


def test_a_chunk_takes_the_same_room_whatever_its_records_total_and_reads_back_exact(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given the same 25 buyers' records in two hours: one of a unit from one event each, one of Marketplace's largest
    # quantity from ten billion events less one; and a decimal dimension's smallest and largest totals beside them
    later = HOUR + timedelta(hours=1)
    tagged = (Allocation((("team", "a"),), Decimal(1)), Allocation((), Decimal(0)))
    least = [replace(_record(n), quantity=Decimal(1), events=1) for n in range(24)]
    least.append(replace(_record(24), quantity=Decimal(1), allocations=tagged, events=1))
    most = [replace(r, hour=later, quantity=Decimal(2_147_483_647), events=9_999_999_999) for r in least[:24]]
    tagged_most = (Allocation((("team", "a"),), Decimal(2_147_483_647)), Allocation((), Decimal(0)))
    most.append(replace(least[24], hour=later, quantity=Decimal(2_147_483_647), allocations=tagged_most, events=1))
    smallest = replace(_record(30), quantity=Decimal("0.000001"), integer=False, events=0)
    largest = replace(smallest, hour=later, quantity=Decimal("9999999999.999999"), events=12_345)
    # When each hour is stored and its outcomes written
    for records in ([*least, smallest], [*most, largest]):
        unsent = ledger.write_pending(records)
        ledger.write_results([RecordResult(r, "sent", f"{n:036d}") for n, r in enumerate(unsent)])
    # Then each hour's items take the same bytes, which DynamoDB bills by (issue 25: totals' digits grew the items by a
    # write unit as usage grew tenfold), and each record reads back as written
    sizes = [sorted(map(_item_bytes, _items(settings, dynamodb, hour))) for hour in (HOUR, later)]
    assert sizes[0] == sizes[1]
    assert {e.record for e in ledger.entries_of_hour(HOUR)} == {*least, smallest}
    assert {e.record for e in ledger.entries_of_hour(later)} == {*most, largest}
    assert {str(e.record.quantity) for e in ledger.entries_of_hour(later)} == {"2147483647", "9999999999.999999"}


def test_a_decimal_dimensions_chunk_takes_the_same_room_whatever_fraction_its_totals_have(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Attack 84: only a quantity's whole part was fixed; a decimal total kept the fraction digits its events had
    # Given the same 25 buyers of a decimal dimension (a 49-character name) in two hours: 12.5 units each in one,
    # 12.500001 (a millionth more, the dimension's own precision) in the next
    dimension = "object_storage_gigabyte_hours_standard_class_eu_1"

    def decimal_record(n: int, quantity: str, hour: datetime) -> MeteringRecord:
        record = _record(n, hour=hour)
        return replace(
            record,
            key=record.key.replace("api_calls", dimension),
            dimension=dimension,
            quantity=Decimal(quantity),
            integer=False,
            events=4,
        )

    later = HOUR + timedelta(hours=1)
    coarse = [decimal_record(n, "12.5", HOUR) for n in range(25)]
    fine = [decimal_record(n, "12.500001", later) for n in range(25)]
    # When each hour is stored (one call, one chunk each)
    ledger.write_pending(coarse)
    ledger.write_pending(fine)
    # Then both items take the same bytes (they were 5,057 and 5,182: 5 and 6 write units), every record reads back as
    # written and is sent as before
    [coarse_item] = _items(settings, dynamodb)
    [fine_item] = _items(settings, dynamodb, later)
    assert _item_bytes(coarse_item) == _item_bytes(fine_item)
    assert {e.record for e in ledger.entries_of_hour(HOUR)} == set(coarse)
    assert [usage_record(e.record)["QuantityAsDecimal"] for e in ledger.entries_of_hour(HOUR)] == ["12.5"] * 25
    assert [usage_record(e.record)["QuantityAsDecimal"] for e in ledger.entries_of_hour(later)] == ["12.500001"] * 25


def test_a_chunk_the_previous_version_encoded_reads_back_as_written(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given an hour stored, and its chunk's records rewritten as the previous version wrote them: totals and event
    # counts as short as they are, in an array without spaces
    records = [_record(n) for n in range(3)] + [replace(_record(3), quantity=Decimal("12.5"), integer=False)]
    ledger.write_pending(records)
    [item] = _items(settings, dynamodb)
    previous = [[*fields[:2], str(Decimal(fields[2])), *fields[3:]] for fields in json.loads(item["rs"]["S"])]
    item["rs"] = {"S": json.dumps(previous, separators=(",", ":"))}
    assert '"1",true' in item["rs"]["S"]
    assert ",2]" in item["rs"]["S"]
    dynamodb.put_item(TableName=settings.metering_table, Item=item)
    # When the hour is read
    entries = ledger.entries_of_hour(HOUR)
    # Then every record is the one stored, pending
    assert sorted(entries, key=lambda e: e.record.key) == sorted(
        (MeteringEntry(r, "pending") for r in records), key=lambda e: e.record.key
    )


def test_an_hours_calls_are_dealt_over_eight_partitions_in_the_order_they_are_sent(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given an hour of 500 records: 20 calls
    records = [_record(n) for n in range(500)]
    # When they are stored, sent in their order, and each call's outcomes written
    unsent = ledger.write_pending(records)
    calls = [unsent[start : start + 25] for start in range(0, 500, 25)]
    for call in calls:
        ledger.write_results([RecordResult(r, "sent", f"id-{r.key}") for r in call])
    # Then consecutive calls' items are on different partitions (DynamoDB caps each near 1,000 write units a second),
    # dealt evenly: each of the 8 holds 2 or 3 of the 20 items
    partitions = _partitions()
    on = {pk: [i for i in _items(settings, dynamodb) if i["pk"]["S"] == pk] for pk in partitions}
    assert sorted(len(items) for items in on.values()) == [2, 2, 2, 2, 3, 3, 3, 3]
    first_keys = {json.loads(i["rs"]["S"])[0][4]: pk for pk, items in on.items() for i in items}
    assert [first_keys[call[0].license_arn] for call in calls[:8]] == partitions
    # and every outcome is where its record is: the hour reads back whole, each record sent once
    assert sorted((e.record.key, e.status, e.metering_record_id) for e in ledger.entries_of_hour(HOUR)) == sorted(
        (r.key, "sent", f"id-{r.key}") for r in records
    )


def test_records_with_large_allocations_are_split_so_no_item_exceeds_dynamodbs_cap(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given records whose allocations take about 150 KB each (3 would overflow one 400 KB item)
    def heavy(n: int) -> MeteringRecord:
        allocations = tuple(Allocation(((f"key-{n}-{t}", "v" * 200),), Decimal(1)) for t in range(650))
        return replace(_record(n), allocations=allocations, quantity=Decimal(650))

    records = [heavy(n) for n in range(5)]
    # When they are stored
    ledger.write_pending(records)
    # Then they fit in several items, each under DynamoDB's item cap, and read back whole
    items = _items(settings, dynamodb)
    assert len(items) >= 3
    assert max(_item_bytes(i) for i in items) < DYNAMODB_ITEM_BYTES
    assert {e.record for e in ledger.entries_of_hour(HOUR)} == set(records)


def test_a_flush_cannot_move_the_unsent_mark_past_a_record_redriven_meanwhile(ledger: DynamoMeteringLedger) -> None:
    # Given a sealed hour whose one record was parked, and a flush that read the mark before a redrive
    record = _record(1)
    ledger.write_pending([record])
    assert ledger.seal(HOUR)
    ledger.write_results([RecordResult(record, "failed", None, "InvalidLicenseException")])
    assert ledger.move_unsent_mark(ledger.unsent_mark(), HOUR + timedelta(hours=1))
    flush_read = ledger.unsent_mark()
    assert list(ledger.pending(flush_read)) == []
    # When the operator redrives the record, and the flush then moves the mark on from what it read
    parked = MeteringEntry(record, "failed", None, "InvalidLicenseException")
    assert ledger.requeue(parked)
    moved = ledger.move_unsent_mark(flush_read, HOUR + timedelta(hours=1))
    # Then the flush's move is refused, and the record is found unsent by the next run
    assert not moved
    assert list(ledger.pending(ledger.unsent_mark())) == [record]
    # and a second redrive of the same (now unsent) record changes nothing
    assert not ledger.requeue(parked)


def test_of_two_copies_of_a_record_the_one_with_an_outcome_counts(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given a leaving buyer's record stored and sent by the final-usage step
    record = _record(1)
    ledger.write_pending([record])
    ledger.write_results([RecordResult(record, "sent", "id-1")])
    # and a copy of it the flush stored, unsent, having read the hour before the final-usage step wrote it
    (sent_copy,) = _items(settings, dynamodb)
    racing_copy = {**sent_copy, "sk": {"S": f"{record.key}~racing"}, "o": {"M": {}}}
    dynamodb.put_item(TableName=settings.metering_table, Item=racing_copy)
    assert ledger.seal(HOUR)
    # Then the hour shows the record once, sent, nothing is unsent, and storing it again sends nothing
    assert ledger.entries_of_hour(HOUR) == [MeteringEntry(record, "sent", "id-1")]
    assert list(ledger.pending(ledger.unsent_mark())) == []
    assert ledger.write_pending([record]) == []


def test_records_an_earlier_version_left_unsent_are_found_sent_and_keep_their_outcome(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given a table an earlier version wrote: one item per record, in the PENDING index, an hour sealed, no mark
    record = _record(7)
    legacy = {
        "pk": {"S": "REC#2026-11-26T09"},
        "sk": {"S": record.key},
        "p": {"S": record.product_code},
        "c": {"S": record.customer_key},
        "a": {"S": record.customer_aws_account_id},
        "d": {"S": record.dimension},
        "q": {"S": "8"},
        "n": {"BOOL": True},
        "ev": {"N": "9"},
        "l": {"S": record.license_arn},
        "s": {"S": "pending"},
        "gsi1pk": {"S": "PENDING"},
        "gsi1sk": {"S": f"2026-11-26T09#{record.key}"},
        "expires_at": {"N": "4102444800"},
    }
    dynamodb.put_item(TableName=settings.metering_table, Item=legacy)
    assert ledger.seal(HOUR)
    # When the new ledger looks for unsent records, and stores the outcome of sending it
    mark = ledger.unsent_mark()
    (found,) = ledger.pending(mark)
    ledger.write_results([RecordResult(found, "sent", "id-7")])
    # Then it was that record, field for field, and it now holds its outcome where it was
    assert found == record
    (item,) = _items(settings, dynamodb)
    assert (item["s"]["S"], item["m"]["S"], "gsi1pk" in item) == ("sent", "id-7", False)
    assert list(ledger.pending(mark)) == []


def test_records_written_outside_the_sealing_move_both_marks_back_to_their_hour(ledger: DynamoMeteringLedger) -> None:
    # Given a ledger whose flush has sent and reconciled every hour up to 12:00
    noon = HOUR + timedelta(hours=3)
    assert ledger.move_unsent_mark(ledger.unsent_mark(), noon)
    assert ledger.move_reconciled(ledger.reconciled_until(), noon)
    before = ledger.unsent_mark()
    # When a leaving buyer's final usage stores a record of 09:00 (a carry placed in a free hour of theirs)
    ledger.write_pending([_record(1, hour=HOUR)])
    # Then the flush sends it (the unsent mark is back at 09:00, a new version: a flush that read the mark before
    # cannot move it on) and reconciles 09:00 again, with it
    after = ledger.unsent_mark()
    assert after.hour == HOUR
    assert after.version > before.version
    assert not ledger.move_unsent_mark(before, noon)
    assert ledger.reconciled_until().hour == HOUR


def test_records_written_for_hours_not_reconciled_yet_leave_the_reconciliation_where_it_is(
    ledger: DynamoMeteringLedger,
) -> None:
    assert ledger.move_reconciled(ledger.reconciled_until(), HOUR)
    ledger.write_pending([_record(1, hour=HOUR + timedelta(hours=2))])
    assert ledger.reconciled_until().hour == HOUR


# Review 23b: write_pending moves the reconciliation's cursor back to the hours it writes (a record in an hour
# reconciled already is reconciled again, with it: seed 77's fix), but the operator's redrive (``requeue``) moves only
# the unsent mark. A record parked in an hour the reconciliation has passed (its last word on that hour: "never
# billed: InvalidLicenseException"), redriven once the cause is fixed, is then sent and billed, and its hour is never
# reconciled again: the units billed for it are checked against CloudTrail by no run, and the hour's last
# reconciliation says they were not billed. On DynamoDB Local, the ledger as deployed.
def test_a_redriven_record_in_a_reconciled_hour_has_its_hour_reconciled_again(ledger: DynamoMeteringLedger) -> None:
    # Given a sealed hour whose one record (2 units) was parked, and the reconciliation three hours past it
    record = _record(1)
    ledger.write_pending([record])
    assert ledger.seal(HOUR)
    ledger.write_results([RecordResult(record, "failed", None, "InvalidLicenseException")])
    assert ledger.move_unsent_mark(ledger.unsent_mark(), HOUR + timedelta(hours=1))
    assert ledger.move_reconciled(ledger.reconciled_until(), HOUR + timedelta(hours=3))
    # When the operator redrives it (the next flush sends it: 2 units billed for HOUR)
    assert ledger.requeue(MeteringEntry(record, "failed", None, "InvalidLicenseException"))
    assert list(ledger.pending(ledger.unsent_mark())) == [record]
    # Then its hour is reconciled again, as one written by write_pending would be
    until = ledger.reconciled_until().hour
    assert until is not None
    assert until <= HOUR, f"reconciliation stays at {until:%H:%M}: {record.quantity} units of {HOUR:%H:%M} unchecked"


# Review 25: the hour's chunks dealt over 8 partitions. Records found, answered and redriven where they are, whichever
# partition that is; copies of a record in two partitions; a table the previous version wrote (every chunk in
# ``REC#<hour>``). On DynamoDB Local, the ledger as deployed.


def _partition_of(settings: Settings, dynamodb: Any, record: MeteringRecord) -> str:
    (pk,) = {str(i["pk"]["S"]) for i in _items(settings, dynamodb) if record.license_arn in i["rs"]["S"]}
    return pk


def test_a_record_parked_in_a_later_partition_is_redriven_sent_and_answered_where_it_is(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given a sealed hour of 200 records (8 calls, one per partition), sent, but for the 6th call's, parked
    records = [_record(n) for n in range(200)]
    calls = [records[start : start + 25] for start in range(0, 200, 25)]
    ledger.write_pending(records)
    assert ledger.seal(HOUR)
    ledger.write_results([RecordResult(r, "sent", f"id-{r.key}") for call in calls[:5] + calls[6:] for r in call])
    ledger.write_results([RecordResult(r, "failed", None, "InvalidLicenseException") for r in calls[5]])
    assert ledger.move_unsent_mark(ledger.unsent_mark(), HOUR + timedelta(hours=1))
    parked = calls[5][7]
    assert _partition_of(settings, dynamodb, parked) == _partitions()[5]
    before = {(i["pk"]["S"], i["sk"]["S"]): i for i in _items(settings, dynamodb) if i["pk"]["S"] != _partitions()[5]}
    # When an operator's process redrives one of them, and the next flush (another process) sends it
    operator = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    assert operator.requeue(MeteringEntry(parked, "failed", None, "InvalidLicenseException"))
    flush = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    assert list(flush.pending(flush.unsent_mark())) == [parked]
    flush.write_results([RecordResult(parked, "sent", "id-redriven")])
    # Then its outcome is in its own item of partition 5, the other partitions are as they were, and the hour reads
    # back with every record once: 199 + 1 sent (its quantity unchanged), 24 still parked, nothing unsent
    assert {
        (i["pk"]["S"], i["sk"]["S"]): i for i in _items(settings, dynamodb) if i["pk"]["S"] != _partitions()[5]
    } == (before)
    entries = {e.record.key: e for e in flush.entries_of_hour(HOUR)}
    assert len(entries) == 200
    assert entries[parked.key] == MeteringEntry(parked, "sent", "id-redriven")
    assert sum(e.record.quantity for e in entries.values() if e.status == "sent") == sum(
        r.quantity for r in records if r not in calls[5] or r == parked
    )
    assert sum(1 for e in entries.values() if e.status == "failed") == 24
    assert list(flush.pending(flush.unsent_mark())) == []


def test_an_outcome_written_by_a_process_that_did_not_store_the_record_lands_in_its_partition(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given an hour of 100 records (4 calls: partitions 0 to 3) stored by one process
    records = [_record(n) for n in range(100)]
    ledger.write_pending(records)
    assert ledger.seal(HOUR)
    # When another process (the reconciliation correcting a record, say) writes the outcome of the 4th call's records
    other = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    other.write_results([RecordResult(r, "sent", f"id-{r.key}") for r in records[75:]])
    # Then they are answered in partition 3, the others still unsent
    assert {i["pk"]["S"]: len(i["o"]["M"]) for i in _items(settings, dynamodb)} == dict(
        zip(_partitions()[:4], [0, 0, 0, 25], strict=True)
    )
    assert sorted(r.key for r in other.pending(other.unsent_mark())) == sorted(r.key for r in records[:75])


@pytest.mark.parametrize("answered_in", [0, 3], ids=["answered copy in REC#<hour>", "answered copy in REC#<hour>#3"])
def test_of_two_copies_in_different_partitions_the_one_with_an_outcome_counts(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any, answered_in: int
) -> None:
    # Given a record stored twice by two writers that raced (each read the hour before the other wrote), one copy in
    # REC#<hour> and one in REC#<hour>#3, and one of them sent
    record = _record(1)
    ledger.write_pending([record])
    (first,) = _items(settings, dynamodb)
    copy = {**first, "pk": {"S": _partitions()[3]}, "sk": {"S": f"{record.key}~racing"}}
    dynamodb.put_item(TableName=settings.metering_table, Item=copy)
    answered = first if answered_in == 0 else copy
    dynamodb.update_item(
        TableName=settings.metering_table,
        Key={"pk": answered["pk"], "sk": answered["sk"]},
        UpdateExpression="SET o = :o",
        ExpressionAttributeValues={":o": {"M": {"0": {"M": {"s": {"S": "sent"}, "m": {"S": "id-1"}}}}}},
    )
    assert ledger.seal(HOUR)
    # Then the hour shows it once, sent; no run sends it again, and storing it again stores and sends nothing
    fresh = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    assert fresh.entries_of_hour(HOUR) == [MeteringEntry(record, "sent", "id-1")]
    assert list(fresh.pending(fresh.unsent_mark())) == []
    assert fresh.write_pending([record]) == []
    assert len(_items(settings, dynamodb)) == 2


def test_an_hour_the_previous_version_stored_in_one_partition_is_found_sent_and_answered_there(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given an hour of 300 records the previous version stored (12 chunks, every one in REC#<hour>), sealed, 100 sent
    records = [_record(n) for n in range(300)]
    ledger.write_pending(records)
    for item in _items(settings, dynamodb):
        if item["pk"]["S"] != _partitions()[0]:
            dynamodb.delete_item(TableName=settings.metering_table, Key={"pk": item["pk"], "sk": item["sk"]})
            dynamodb.put_item(TableName=settings.metering_table, Item={**item, "pk": {"S": _partitions()[0]}})
    old = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    old.write_results([RecordResult(r, "sent", f"id-{r.key}") for r in records[:100]])
    assert ledger.seal(HOUR)
    assert {i["pk"]["S"] for i in _items(settings, dynamodb)} == {_partitions()[0]}
    # When the new version's flush looks for unsent records and answers them, and a leaving buyer's final usage (new
    # version) stores a record of that hour it had not
    flush = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    unsent = list(flush.pending(flush.unsent_mark()))
    flush.write_results([RecordResult(r, "sent", f"id-{r.key}") for r in unsent])
    late = _record(300)
    assert flush.write_pending([*records, late]) == [late]
    # Then it found exactly the 200 unsent, answered them in their items of REC#<hour>, and the hour reads back whole:
    # 300 sent once each, the late one unsent
    assert sorted(r.key for r in unsent) == sorted(r.key for r in records[100:])
    assert all(
        len(i["o"]["M"]) == 25
        for i in _items(settings, dynamodb)
        if "~" in i["sk"]["S"] and late.license_arn not in i["rs"]["S"]
    )
    entries = {e.record.key: e for e in flush.entries_of_hour(HOUR)}
    assert {k: e.status for k, e in entries.items()} == {r.key: "sent" for r in records} | {late.key: "pending"}
    assert list(flush.pending(flush.unsent_mark())) == [late]


# Review 25: a record stored twice by two writers that raced (the flush sealing the hour and a leaving buyer's final
# usage, each having read the hour before the other wrote; the copies now usually in different partitions), each copy
# sent by its writer and each parked with the same reason. The operator fixes the cause and redrives it: ``requeue``
# answers True ("requeued: sent by the next flush"), but it cleared only the copy it read first; the other copy still
# holds the parked outcome, so the hour reads the record as parked again and no flush sends it. The units are never
# billed unless the operator notices and redrives a second time within Marketplace's window.
def test_a_record_both_of_whose_copies_were_parked_is_sent_again_when_redriven(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    # Given a record (2 units) in REC#<hour> and a racing writer's copy in REC#<hour>#3, both sent and parked
    record = _record(1)
    ledger.write_pending([record])
    (first,) = _items(settings, dynamodb)
    copy = {**first, "pk": {"S": _partitions()[3]}, "sk": {"S": f"{record.key}~racing"}}
    dynamodb.put_item(TableName=settings.metering_table, Item=copy)
    parked = {"M": {"0": {"M": {"s": {"S": "failed"}, "e": {"S": "InvalidLicenseException"}}}}}
    for item in (first, copy):
        dynamodb.update_item(
            TableName=settings.metering_table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET o = :o",
            ExpressionAttributeValues={":o": parked},
        )
    assert ledger.seal(HOUR)
    assert ledger.move_unsent_mark(ledger.unsent_mark(), HOUR + timedelta(hours=1))
    entry = MeteringEntry(record, "failed", None, "InvalidLicenseException")
    assert ledger.entries_of_hour(HOUR) == [entry]
    # When the operator redrives it
    assert ledger.requeue(entry)
    # Then the next flush sends it (its 2 units), and the hour no longer shows it parked
    flush = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    unsent = list(flush.pending(flush.unsent_mark()))
    assert unsent == [record], f"redriven, yet {ledger.entries_of_hour(HOUR)}: {record.quantity} units never sent"
    flush.write_results([RecordResult(record, "sent", "id-1")])
    assert flush.entries_of_hour(HOUR) == [MeteringEntry(record, "sent", "id-1")]


def test_sealing_records_the_first_hour_sealed_and_the_fewest_retention_days_since(
    settings: Settings, dynamodb: Any
) -> None:
    """What ``cli adjust`` reads to tell whether an hour's usage is still kept (attack 31): a setting raised later
    never raises the floor; lowered, it lowers it; each ledger a deployment's flush, its retention as then set."""

    def flush(days: int) -> DynamoMeteringLedger:
        return DynamoMeteringLedger(dynamodb, settings.metering_table, retention=timedelta(days=days))

    assert flush(30).retention_floor() == RetentionFloor()  # nothing sealed: nothing recorded
    assert flush(30).seal(HOUR)  # a fresh ledger, as a cold flush seals (its cursor not read first)
    first = flush(400)
    assert first.next_hour_to_seal() == HOUR + timedelta(hours=1)
    assert first.seal(HOUR + timedelta(hours=1))
    assert flush(400).retention_floor() == RetentionFloor(HOUR, 30)  # raised: still 30
    lowered = flush(7)
    lowered.next_hour_to_seal()
    assert lowered.seal(HOUR + timedelta(hours=2))
    assert lowered.seal(HOUR + timedelta(hours=3))
    assert flush(400).retention_floor() == RetentionFloor(HOUR, 7)
    assert flush(400).next_hour_to_seal() == HOUR + timedelta(hours=4)


def test_on_a_table_an_earlier_version_sealed_the_record_starts_at_the_hour_of_the_first_seal_by_the_clock(
    settings: Settings, dynamodb: Any
) -> None:
    """Attack 33: an earlier version's flush left a backlog (it stopped at 04:00); the upgraded one seals it from 04:00
    at 15:10. Those hours' usage was written by the earlier version (kept as it kept it): the record starts at 15:00."""
    cursor = {"pk": {"S": "SEAL"}, "sk": {"S": "CURSOR"}, "next": {"S": "2026-11-26T04"}, "sealed": {"S": "x"}}
    dynamodb.put_item(TableName=settings.metering_table, Item=cursor)  # as an earlier version's put_item left it
    clock = ManualClock(HOUR.replace(hour=15, minute=10))
    upgraded = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=timedelta(days=400), clock=clock)
    assert upgraded.next_hour_to_seal() == HOUR.replace(hour=4)
    assert upgraded.seal(HOUR.replace(hour=4))
    assert upgraded.seal(HOUR.replace(hour=5))
    assert upgraded.retention_floor() == RetentionFloor(HOUR.replace(hour=15), 400)


def test_an_hour_sealed_in_dry_run_is_kept_so_with_the_cursors_move_and_expires_with_its_records(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any
) -> None:
    later = HOUR + timedelta(hours=1)
    assert ledger.seal(HOUR)  # live
    assert ledger.seal(later, dry_run=True)
    # a second sealer of the same hour (the cursor moved already): refused, nothing written for an hour it did not seal
    assert not ledger.seal(later, dry_run=True)
    assert not ledger.seal(later + timedelta(hours=2), dry_run=True)
    assert ledger.next_hour_to_seal() == later + timedelta(hours=1)
    assert [ledger.sealed_in_dry_run(h) for h in (HOUR, later, later + timedelta(hours=2))] == [False, True, False]
    marker = dynamodb.get_item(
        TableName=settings.metering_table, Key={"pk": {"S": "SEAL"}, "sk": {"S": f"DRY#{later:%Y-%m-%dT%H}"}}
    )["Item"]
    assert int(marker["expires_at"]["N"]) == int((later + FIXED_DATE_RETENTION).timestamp())


@pytest.mark.parametrize("first_in_dry_run", [False, True])
def test_the_first_hour_sealed_keeping_each_hours_mode_is_kept_and_never_moved(
    ledger: DynamoMeteringLedger, settings: Settings, dynamodb: Any, first_in_dry_run: bool
) -> None:
    """From it on, an hour with no dry-run marker was sealed live (attack 60); a table whose cursor an earlier version
    moved (stop 40's: markers, but no such hour) has it from this version's first seal."""
    cursor = {"pk": {"S": "SEAL"}, "sk": {"S": "CURSOR"}, "next": {"S": "2026-11-26T04"}, "sealed": {"S": "x"}}
    dynamodb.put_item(TableName=settings.metering_table, Item=cursor)
    assert ledger.modes_kept_since() is None
    first = HOUR.replace(hour=4)
    assert ledger.seal(first, dry_run=first_in_dry_run)
    assert ledger.seal(first + timedelta(hours=1), dry_run=not first_in_dry_run)
    assert not ledger.seal(first, dry_run=False)  # refused: the cursor is past it, nothing moves
    again = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    assert again.modes_kept_since() == first
