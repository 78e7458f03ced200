"""Sealed hourly records and their outcomes in the metering table, packed so DynamoDB bills little for them.

DynamoDB bills a write per KB of the item written (and again per index it lands in), never less than one per item.
One item per record, moved in and out of an index of unsent records, costs four write units per record; here it is
a fraction of one:

- ``pk = REC#<hour>`` or ``REC#<hour>#<shard>``, ``sk = <first record's key>~<token>``: a *chunk*, the records of one
  product that make one BatchMeterUsage call (``rs``, JSON; written once, never rewritten) and, once known, each
  record's outcome by its index in the chunk (``o``: ``{s, m, e}``: status, MeteringRecordId, reason). One put when
  the hour is sealed and one update per call. The token keeps two writers' chunks apart (a leaving buyer's final
  usage stored while the flush seals the hour); a record found in two chunks is the same total, and the copy with an
  outcome is the one that counts (a redrive makes every copy parked alike unsent, else another would count). An
  hour's chunks are dealt over ``SHARDS`` partition keys in the order they are sent (shard 0 is ``REC#<hour>``
  itself, where earlier versions kept every chunk), so consecutive calls' writes land on different partitions:
  DynamoDB caps a partition near 1,000 write units a second, and an hour sent at a raised quota of 160 calls/s writes
  about 2,000 (each chunk a put when sealed and an update per call, a few KB each). An hour is read a partition at a
  time, as its pages always were: no read of it was ever one snapshot.
- ``pk = SEAL, sk = CURSOR``: the next hour to seal, moved by a conditional write (the seal marker), with how long
  what was written since is kept (``since_r``, the hour it was first recorded from; ``min_r``, the fewest retention
  days since: ``seal``), and the first hour sealed by a version that keeps each hour's mode (``modes_since``: from it
  on, an hour with no ``DRY#`` marker was sealed live).
- ``pk = SEAL, sk = UNSENT``: every record of an hour before ``hour`` has its outcome, so the flush looks for unsent
  records from there on (reads, a quarter of the price of the index writes they replace). ``v`` counts its moves: a
  flush moves it forward only from the version it read, a redrive moves it back.
- ``pk = CARRY#<hour>``: usage carried into the hour, one item per record (rare: hours over a record's maximum);
  ``consumed`` once an hour's sealing took it in, ``placed`` (the hours it went to instead) where a leaving buyer's
  final usage billed it in earlier hours of theirs: each conditional on the other's absence, so one of them bills it.
- ``pk = SEAL, sk = RECONCILED``: the oldest hour the reconciliation has not finished (``next``), moved by a
  conditional write: each hour is reconciled once, oldest first.
- ``pk = SEAL, sk = DRY#<hour>``: the hour was sealed in dry run (written with the cursor's move, in one
  transaction): nothing of it was ours to bill, so the reconciliation passes it over, whatever its records' statuses
  (a dry run parks records too) and whatever another integration billed in it, but for the records Marketplace
  answered (``functions.flush.audit.live_in_hour``). Expires with the hour's records.
- ``pk = LEASE, sk = FLUSH``: keeps a second flush from doing the same work.

Items of the earlier layout (one per record: its fields and ``s``, its status) are read as chunks of one record and
their outcomes written as before, so records an earlier version left unsent are still found and sent. A record under a
key of its own (a leaving buyer's parked carry, ``#carried-past-end``) is written in that layout still: a chunk
derives its records' keys from their fields, and would give it back as the buyer's record of that dimension and hour.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from functions.clock import Clock
from functions.customers.model import CustomerRef
from functions.flush.aggregate import record_key
from functions.flush.calls import CallPacker
from functions.flush.records import (
    MeteringEntry,
    MeteringRecord,
    Placement,
    ReconciledMark,
    RecordResult,
    RetentionFloor,
    UnsentMark,
)
from functions.observability import logger, metrics
from functions.storage.dynamodb import condition_failed, raise_unless_first_condition_failed, storage_error
from functions.storage.errors import ConditionFailed, StorageError
from functions.usage.model import HOUR, Allocation, hour_key, hour_of, parse_hour_key

_BATCH = 25
_CURSOR = {"pk": {"S": "SEAL"}, "sk": {"S": "CURSOR"}}
_UNSENT = {"pk": {"S": "SEAL"}, "sk": {"S": "UNSENT"}}
_LEASE = {"pk": {"S": "LEASE"}, "sk": {"S": "FLUSH"}}
_RECONCILED = {"pk": {"S": "SEAL"}, "sk": {"S": "RECONCILED"}}
# a chunk's records take at most this much of its item (DynamoDB's cap is 400 KB); one record always fits, its
# allocations being capped below this in a request's larger encoding (functions.flush.aggregate)
_CHUNK_BYTES = 380_000
# without an UNSENT mark (a table an earlier version wrote), unsent records are looked for over the hours a record
# may still be sent in: the metering window, and the hour under way
_NO_MARK_LOOKBACK = timedelta(hours=25)
# partition keys an hour's chunks are dealt over: each takes an eighth of the hour's writes, so an hour's sending stays
# under DynamoDB's per-partition cap up to about 600 calls/s (functions.settings.MAX_METERING_CALLS_PER_SECOND is less)
SHARDS = 8


def _floor_of(cursor: dict[str, Any] | None) -> RetentionFloor:
    if cursor is None or "since_r" not in cursor or "min_r" not in cursor:
        return RetentionFloor()
    return RetentionFloor(parse_hour_key(cursor["since_r"]["S"]), int(cursor["min_r"]["N"]))


def _dry_run_key(hour: datetime) -> dict[str, Any]:
    return {"pk": {"S": "SEAL"}, "sk": {"S": f"DRY#{hour_key(hour)}"}}


def _hour_partition(hour: datetime, shard: int) -> str:
    return f"REC#{hour_key(hour)}" + (f"#{shard}" if shard else "")


def _hour_of_partition(pk: str) -> datetime:
    return parse_hour_key(pk.split("#")[1])


@dataclass(frozen=True)
class _Where:
    """Where a record is stored: its item's keys, and its index in the chunk (None: an item of its own)."""

    pk: str
    sk: str
    index: int | None

    @property
    def key(self) -> dict[str, Any]:
        return {"pk": {"S": self.pk}, "sk": {"S": self.sk}}


@dataclass(frozen=True)
class _Stored:
    """A ledger entry with the item that holds it."""

    entry: MeteringEntry
    where: _Where


# A chunk keeps each total and event count in the same room however large it is (up to Marketplace's largest quantity
# and ten billion events), so what an hour's records cost to keep follows the records, never how much usage they
# total (issue 25: their digits grew by one per tenfold usage, and 25 like records crossed a kilobyte, a write unit,
# together). A quantity's whole part is zero-padded, a decimal one's fraction too (to Marketplace's six decimals; it
# is sent normalized); an event count is followed by JSON's insignificant whitespace, which every version's decoder
# reads as the same number.
_WHOLE_DIGITS = 10
_DECIMALS = 6


def _fixed(quantity: Decimal, integer: bool) -> str:
    whole, _, fraction = format(quantity, "f").partition(".")
    if integer and not fraction.strip("0"):
        return whole.zfill(_WHOLE_DIGITS)
    return f"{whole.zfill(_WHOLE_DIGITS)}.{fraction.ljust(_DECIMALS, '0')}"


def _encoded(record: MeteringRecord) -> str:
    """The record as its chunk keeps it: a JSON array, its fields by position."""
    allocations = [[list(map(list, a.tags)), _fixed(a.quantity, record.integer)] for a in record.allocations] or None
    fields = [
        record.customer_aws_account_id,
        record.dimension,
        _fixed(record.quantity, record.integer),
        record.integer,
        record.license_arn,
        record.customer_identifier,
        allocations,
    ]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return f"{text[:-1]},{record.events:<{_WHOLE_DIGITS}d}]"


def _decode(fields: list[Any], product_code: str, hour: datetime) -> MeteringRecord:
    account, dimension, quantity, integer, license_arn, identifier, allocations, events = fields
    customer_key = CustomerRef(product_code, license_arn=license_arn, customer_identifier=identifier).key
    return MeteringRecord(
        key=record_key(product_code, customer_key, dimension),
        hour=hour,
        product_code=product_code,
        customer_key=customer_key,
        customer_aws_account_id=account,
        dimension=dimension,
        quantity=Decimal(quantity),
        integer=integer,
        license_arn=license_arn,
        customer_identifier=identifier,
        allocations=tuple(Allocation(tuple((k, v) for k, v in tags), Decimal(q)) for tags, q in allocations or ()),
        events=events,
    )


def _keyed_apart(record: MeteringRecord) -> bool:
    """A record under a key of its own (a leaving buyer's parked carry), which a chunk would give back as the buyer's
    record of that dimension: stored in an item of its own (the earlier layout, which every version reads), the key
    in it."""
    return record.key != record_key(record.product_code, record.customer_key, record.dimension)


def read_back(record: MeteringRecord) -> MeteringRecord:
    """``record`` as a read of the table gives it back once written: a chunk keeps its fields and rebuilds its key
    from them; a record keyed apart is kept whole in an item of its own. The simulator's ledger stores this, so it
    loses what the table would."""
    if _keyed_apart(record):
        return record_from_item(_record_item(record, 0))
    return _decode(json.loads(_encoded(record)), record.product_code, record.hour)


def _chunk_item(records: Sequence[MeteringRecord], shard: int, expires_at: int) -> dict[str, Any]:
    first = records[0]
    return {
        "pk": {"S": _hour_partition(first.hour, shard)},
        "sk": {"S": f"{first.key}~{uuid.uuid4().hex[:12]}"},
        "p": {"S": first.product_code},
        "rs": {"S": f"[{','.join(map(_encoded, records))}]"},
        "o": {"M": {}},
        "expires_at": {"N": str(expires_at)},
    }


def _outcome(result: RecordResult) -> dict[str, Any]:
    outcome = {"s": {"S": result.status}}
    if result.metering_record_id:
        outcome["m"] = {"S": result.metering_record_id}
    if result.reason:
        outcome["e"] = {"S": result.reason}
    if result.at is not None:
        outcome["t"] = {"N": str(int(result.at.timestamp()))}
    return outcome


def _entry(record: MeteringRecord, outcome: dict[str, Any] | None) -> MeteringEntry:
    if outcome is None or outcome["s"]["S"] == "pending":
        return MeteringEntry(record, "pending")
    at = datetime.fromtimestamp(int(outcome["t"]["N"]), UTC) if "t" in outcome else None
    return MeteringEntry(record, outcome["s"]["S"], outcome.get("m", {}).get("S"), outcome.get("e", {}).get("S"), at)


def _stored_of(item: dict[str, Any]) -> Iterator[_Stored]:
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    if "rs" not in item:  # the earlier layout: one record, its outcome beside it
        yield _Stored(_entry(record_from_item(item), item), _Where(pk, sk, None))
        return
    hour = _hour_of_partition(pk)
    outcomes = item.get("o", {}).get("M", {})
    for index, fields in enumerate(json.loads(item["rs"]["S"])):
        record = _decode(fields, item["p"]["S"], hour)
        yield _Stored(_entry(record, outcomes.get(str(index), {}).get("M")), _Where(pk, sk, index))


def _counted(stored: Iterable[_Stored]) -> dict[str, _Stored]:
    """Records by key; of two copies of one (two writers' chunks), the first read with an outcome, else the last."""
    entries: dict[str, _Stored] = {}
    for copy in stored:
        key = copy.entry.record.key
        if key not in entries or entries[key].entry.status == "pending":
            entries[key] = copy
    return entries


def _parked_as(copy: MeteringEntry, entry: MeteringEntry) -> bool:
    """``copy`` is parked as ``entry`` is, and would be sent as it would (its quantity and allocations)."""
    same = (copy.record.quantity, copy.record.allocations) == (entry.record.quantity, entry.record.allocations)
    return same and copy.status == entry.status and copy.metering_record_id is None


def _record_item(record: MeteringRecord, expires_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"REC#{hour_key(record.hour)}"},
        "sk": {"S": record.key},
        "p": {"S": record.product_code},
        "c": {"S": record.customer_key},
        "a": {"S": record.customer_aws_account_id},
        "d": {"S": record.dimension},
        "q": {"S": str(record.quantity)},
        "n": {"BOOL": record.integer},
        "ev": {"N": str(record.events)},
        "expires_at": {"N": str(expires_at)},
    }
    if record.license_arn is not None:
        item["l"] = {"S": record.license_arn}
    if record.customer_identifier is not None:
        item["i"] = {"S": record.customer_identifier}
    if record.allocations:
        item["al"] = {"S": json.dumps([[list(map(list, a.tags)), str(a.quantity)] for a in record.allocations])}
    return item


def _carry_key(record: MeteringRecord) -> dict[str, Any]:
    return {"pk": {"S": f"CARRY#{hour_key(record.hour)}"}, "sk": {"S": record.key}}


def _carry_item(record: MeteringRecord, ledger: DynamoMeteringLedger) -> dict[str, Any]:
    return {**_record_item(record, ledger._expires_at(record.hour)), **_carry_key(record)}


def _placement(item: dict[str, Any]) -> Placement:
    return [(parse_hour_key(h) if h else None, Decimal(q)) for h, q in json.loads(item["placed"]["S"])]


def record_from_item(item: dict[str, Any]) -> MeteringRecord:
    """A record stored in an item of its own: carried usage (``CARRY#<hour>``), or a record of the earlier layout."""
    return MeteringRecord(
        key=item["sk"]["S"],
        hour=_hour_of_partition(item["pk"]["S"]),
        product_code=item["p"]["S"],
        customer_key=item["c"]["S"],
        customer_aws_account_id=item["a"]["S"],
        dimension=item["d"]["S"],
        quantity=Decimal(item["q"]["S"]),
        integer=item["n"]["BOOL"],
        license_arn=item.get("l", {}).get("S"),
        customer_identifier=item.get("i", {}).get("S"),
        allocations=tuple(
            Allocation(tags=tuple((k, v) for k, v in tags), quantity=Decimal(q))
            for tags, q in json.loads(item["al"]["S"])
        )
        if "al" in item
        else (),
        events=int(item["ev"]["N"]),
    )


def _chunks(records: Sequence[MeteringRecord]) -> Iterator[list[MeteringRecord]]:
    """Records of one hour in the calls the flush makes of them (one product each, under both of a call's caps), each
    also under an item's size."""
    by_product: dict[str, list[MeteringRecord]] = {}
    for record in sorted(records, key=lambda r: (r.product_code, r.key)):
        by_product.setdefault(record.product_code, []).append(record)
    for product_records in by_product.values():
        packer = CallPacker()
        for record in product_records:
            for call in packer.add(record):
                yield from _under_item_size(call)
        if rest := packer.rest():
            yield from _under_item_size(rest)


def _under_item_size(call: list[MeteringRecord]) -> Iterator[list[MeteringRecord]]:
    chunk: list[MeteringRecord] = []
    size = 0
    for record in call:
        length = len(_encoded(record).encode()) + 1  # and its comma
        if chunk and size + length > _CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += length
    if chunk:
        yield chunk


class DynamoMeteringLedger:
    def __init__(self, client: Any, table_name: str, *, retention: timedelta, clock: Clock | None = None) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention
        # when a seal first records the retention (without a clock, as in some tests: the hour it seals)
        self._clock = clock
        # where the records this ledger handed out as unsent are stored, so their outcomes go straight there
        self._where: dict[tuple[datetime, str], _Where] = {}
        self._lock = threading.Lock()
        self._floor: RetentionFloor | None = None  # what the cursor recorded, as last read
        self._upgraded = False  # the cursor, as last read, was sealed by an earlier version (no since_r)

    def _expires_at(self, hour: datetime) -> int:
        return int((hour + self._retention).timestamp())

    def next_hour_to_seal(self) -> datetime | None:
        item = self._read_cursor()
        return parse_hour_key(item["next"]["S"]) if item else None

    def retention_floor(self) -> RetentionFloor:
        """How long the hours' usage and records are surely kept (see ``seal``)."""
        return _floor_of(self._read_cursor())

    def _read_cursor(self) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._call("get_item", Key=_CURSOR, ConsistentRead=True).get("Item")
        self._floor, self._upgraded = _floor_of(item), item is not None and "since_r" not in item
        return item

    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        if not records:
            return []
        earliest = min(r.hour for r in records)
        # the marks back before (a step that dies after writing leaves the records to the flush) and after (a flush
        # or reconciliation that read their hour before they landed cannot move on from what it read)
        self._move_marks_back(earliest)
        to_send = self._write_pending(records, ())
        self._move_marks_back(earliest)
        return to_send

    def _move_marks_back(self, hour: datetime) -> None:
        self._move_mark_back(hour)
        self._move_reconciled_back(hour)

    def write_hour(self, hour: datetime, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        return self._write_pending(records, (hour,))

    def _write_pending(self, records: Sequence[MeteringRecord], whole: Sequence[datetime]) -> list[MeteringRecord]:
        # An hour's records may be stored already: sent early as a leaving buyer's final usage, or by a run killed
        # before it moved the cursor. Storing them again would reset an outcome to pending (and a resend could come
        # back CustomerNotSubscribed once the subscription ended) or change a total already stored.
        to_send: list[MeteringRecord] = []
        items = []
        by_hour: dict[datetime, dict[str, MeteringRecord]] = {hour: {} for hour in whole}
        for record in records:
            by_hour.setdefault(record.hour, {}).setdefault(record.key, record)  # once, if named twice
        for hour, hour_records in by_hour.items():
            stored = self._entries(hour)
            if hour in whole:  # stored by a run that died, and not among these (a zero record of a buyer since ended)
                to_send.extend(
                    self._handed_out(found)
                    for key, found in sorted(stored.items())
                    if key not in hour_records and found.entry.status == "pending"
                )
            new = []
            for key, record in hour_records.items():
                found = stored.get(key)
                if found is None:
                    new.append(record)
                    continue
                if found.entry.record.quantity != record.quantity:
                    # usage landed in the hour after its record was stored (in-flight margin exceeded): it is not
                    # billed, and Marketplace would refuse another total as DuplicateRecord
                    logger.warning(
                        "sealed total differs from the stored one",
                        hour=hour_key(hour),
                        record=key,
                        stored=str(found.entry.record.quantity),
                        sealed=str(record.quantity),
                    )
                    metrics.add_metric(name="SealedTotalMismatch", unit=MetricUnit.Count, value=1)
                if found.entry.status == "pending":
                    to_send.append(self._handed_out(found))
            for record in (r for r in new if _keyed_apart(r)):
                if (kept := self._put_apart(record)) is not None:
                    to_send.append(kept)
            new = [r for r in new if not _keyed_apart(r)]
            for number, chunk in enumerate(_chunks(new)):  # dealt over the partitions in the order they are sent
                item = _chunk_item(chunk, number % SHARDS, self._expires_at(hour))
                items.append(item)
                with self._lock:
                    for index, record in enumerate(chunk):
                        self._where[(hour, record.key)] = _Where(item["pk"]["S"], item["sk"]["S"], index)
                to_send.extend(chunk)
        self._batch_put(items)
        return to_send

    def _put_apart(self, record: MeteringRecord) -> MeteringRecord | None:
        """Store ``record`` pending in an item of its own, once: the record to send, or None if another writer stored
        it first and it has its outcome (put conditionally: a second put would reset that outcome)."""
        item = {**_record_item(record, self._expires_at(record.hour)), "s": {"S": "pending"}}
        try:
            self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailed:
            found = self._entries(record.hour).get(record.key)
            return self._handed_out(found) if found is not None and found.entry.status == "pending" else None
        with self._lock:
            self._where[(record.hour, record.key)] = _Where(item["pk"]["S"], item["sk"]["S"], None)
        return record

    def _handed_out(self, stored: _Stored) -> MeteringRecord:
        record = stored.entry.record
        with self._lock:
            self._where[(record.hour, record.key)] = stored.where
        return record

    def _stored(self, hour: datetime) -> Iterator[_Stored]:
        try:
            for shard in range(SHARDS):
                for page in self._client.get_paginator("query").paginate(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": _hour_partition(hour, shard)}},
                    ConsistentRead=True,
                ):
                    for item in page["Items"]:
                        yield from _stored_of(item)
        except ClientError as error:
            raise storage_error(error) from error

    def _entries(self, hour: datetime) -> dict[str, _Stored]:
        """The hour's records by key; of two copies of one (two writers' chunks), the one with an outcome."""
        return _counted(self._stored(hour))

    def entries_of_hour(self, hour: datetime) -> list[MeteringEntry]:
        return [stored.entry for stored in self._entries(hour).values()]

    def seal(self, hour: datetime, *, dry_run: bool = False) -> bool:
        """Move the cursor past ``hour``, and record how long what is written now is kept: from which hour it was
        first recorded (``since_r``: the first hour sealed, or on a table an earlier version sealed the hour by the
        clock, as a backlog sealed first had its usage written by that version), and the fewest days any was since
        (``min_r``, lowered, never raised: ``cli adjust`` must not take an hour's usage as kept once a shorter setting
        let it expire). ``dry_run``: the hour is sealed in dry run, kept in the same transaction as the move (a run
        dying between the two would leave a dry-run hour read as live, or a live one passed over); from the first hour
        sealed so (``modes_since``), an hour with no marker was sealed live."""
        days = self._retention.days
        if self._floor is None:  # not read yet by this ledger: min_r is only ever lowered
            self._read_cursor()
        assert self._floor is not None
        lower = self._floor.days is None or days < self._floor.days
        # a table an earlier version sealed: the hours before now may have had their usage written by it (a backlog
        # sealed first above all); a stack's first seal: nothing was written before this deployment
        first = hour_of(self._clock.now()) if self._upgraded and self._clock is not None else hour
        values = {
            ":hour": {"S": hour_key(hour)},
            ":first": {"S": hour_key(first)},
            ":next": {"S": hour_key(hour + timedelta(hours=1))},
            **({":days": {"N": str(days)}} if lower else {}),
        }
        move = {
            "Key": _CURSOR,
            "UpdateExpression": "SET #next = :next, sealed = :hour, since_r = if_not_exists(since_r, :first), "
            "modes_since = if_not_exists(modes_since, :hour)" + (", min_r = :days" if lower else ""),
            "ConditionExpression": "attribute_not_exists(pk) OR #next = :hour",
            "ExpressionAttributeNames": {"#next": "next"},
            "ExpressionAttributeValues": values,
        }
        try:
            if dry_run:
                self._seal_in_dry_run(hour, move)
            else:
                self._call("update_item", **move)
        except ConditionFailed:
            return False
        if lower:
            self._floor = RetentionFloor(self._floor.since or first, days)
        return True

    def _seal_in_dry_run(self, hour: datetime, move: dict[str, Any]) -> None:
        marker = {**_dry_run_key(hour), "expires_at": {"N": str(self._expires_at(hour))}}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Update": {"TableName": self._table, **move}},
                    {"Put": {"TableName": self._table, "Item": marker}},
                ]
            )
        except ClientError as error:
            raise_unless_first_condition_failed(error)  # else: another flush moved the cursor past the hour
            raise ConditionFailed(str(error), code="ConditionalCheckFailed", retryable=False) from error

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return "Item" in self._call("get_item", Key=_dry_run_key(hour), ConsistentRead=True)

    def modes_kept_since(self) -> datetime | None:
        item = self._read_cursor()
        return parse_hour_key(item["modes_since"]["S"]) if item and "modes_since" in item else None

    def unsent_mark(self) -> UnsentMark:
        item = self._call("get_item", Key=_UNSENT, ConsistentRead=True).get("Item")
        if item is None:
            return UnsentMark(None, 0)
        hour = item.get("hour", {}).get("S")  # none yet, when a redrive came first
        return UnsentMark(parse_hour_key(hour) if hour else None, int(item["v"]["N"]))

    def pending(self, mark: UnsentMark) -> Iterator[MeteringRecord]:
        until = self.next_hour_to_seal()
        if until is None:
            return
        hour = mark.hour or until - _NO_MARK_LOOKBACK
        while hour < until:
            for stored in sorted(self._entries(hour).values(), key=lambda s: s.entry.record.key):
                if stored.entry.status == "pending":
                    yield self._handed_out(stored)
            hour += HOUR

    def move_unsent_mark(self, mark: UnsentMark, hour: datetime) -> bool:
        try:
            self._call(
                "put_item",
                Item={**_UNSENT, "hour": {"S": hour_key(hour)}, "v": {"N": str(mark.version + 1)}},
                ConditionExpression="attribute_not_exists(pk) OR v = :seen",
                ExpressionAttributeValues={":seen": {"N": str(mark.version)}},
            )
        except ConditionFailed:
            return False  # a redrive moved it back meanwhile: the next run looks from there
        return True

    def write_results(self, results: Sequence[RecordResult]) -> None:
        by_item: dict[tuple[str, str], list[tuple[int | None, RecordResult]]] = {}
        for result in results:
            where = self._where_of(result.record)
            by_item.setdefault((where.pk, where.sk), []).append((where.index, result))
        for (pk, sk), outcomes in by_item.items():
            key = {"pk": {"S": pk}, "sk": {"S": sk}}
            if outcomes[0][0] is None:  # an item of the earlier layout: its outcome beside the record
                outcome = _outcome(outcomes[0][1])
                self._call(
                    "update_item",
                    Key=key,
                    UpdateExpression="SET "
                    + ", ".join(f"{name} = :{name}" for name in outcome)
                    + " REMOVE gsi1pk, gsi1sk",
                    ExpressionAttributeValues={f":{name}": value for name, value in outcome.items()},
                )
                continue
            names = {"#o": "o"} | {f"#i{n}": str(index) for n, (index, _) in enumerate(outcomes)}
            self._call(
                "update_item",
                Key=key,
                UpdateExpression="SET " + ", ".join(f"#o.#i{n} = :o{n}" for n in range(len(outcomes))),
                ConditionExpression="attribute_exists(rs)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={f":o{n}": {"M": _outcome(r)} for n, (_, r) in enumerate(outcomes)},
            )
        with self._lock:
            for result in results:
                self._where.pop((result.record.hour, result.record.key), None)

    def _where_of(self, record: MeteringRecord) -> _Where:
        with self._lock:
            where = self._where.get((record.hour, record.key))
        if where is None:  # not handed out by this ledger (another process stored it): look it up
            stored = self._entries(record.hour).get(record.key)
            if stored is None:
                raise StorageError(
                    f"record {record.key} of {hour_key(record.hour)} is not stored", code="NotStored", retryable=False
                )
            where = stored.where
        return where

    def requeue(self, entry: MeteringEntry) -> bool:
        """Make a parked record unsent again, its quantity untouched; False if it is no longer the parked record
        ``entry`` shows (another flush or redrive changed it meanwhile)."""
        record = entry.record
        copies = [stored for stored in self._stored(record.hour) if stored.entry.record.key == record.key]
        stored = _counted(copies).get(record.key)
        if stored is None or stored.entry != entry:
            return False
        # the marks first: a flush running now must not move them past this hour, whatever it has read
        self._move_marks_back(record.hour)
        try:
            self._unpark(stored.where, entry.status)
        except ConditionFailed:
            return False
        # and any other copy parked alike (two writers that raced each sent their own): left parked, it would count
        # for the record again and no flush would send it (one that would send another quantity is left as it is)
        for other in copies:
            if other is not stored and _parked_as(other.entry, entry):
                with contextlib.suppress(ConditionFailed):  # answered or redriven meanwhile
                    self._unpark(other.where, entry.status)
        self._move_marks_back(record.hour)  # and after: a run that read the hour before cannot move past it
        return True

    def _unpark(self, where: _Where, status: str) -> None:
        seen = {":status": {"S": status}}
        if where.index is None:
            self._call(
                "update_item",
                Key=where.key,
                UpdateExpression="SET s = :pending REMOVE e",
                ConditionExpression="s = :status AND attribute_not_exists(m)",
                ExpressionAttributeValues=seen | {":pending": {"S": "pending"}},
            )
        else:
            self._call(
                "update_item",
                Key=where.key,
                UpdateExpression="REMOVE #o.#i",
                ConditionExpression="#o.#i.s = :status AND attribute_not_exists(#o.#i.m)",
                ExpressionAttributeNames={"#o": "o", "#i": str(where.index)},
                ExpressionAttributeValues=seen,
            )

    def _move_mark_back(self, hour: datetime) -> None:
        try:
            self._call(
                "update_item",
                Key=_UNSENT,
                UpdateExpression="SET #hour = :hour ADD v :one",
                ConditionExpression="attribute_exists(pk) AND #hour > :hour",
                ExpressionAttributeNames={"#hour": "hour"},
                ExpressionAttributeValues={":hour": {"S": hour_key(hour)}, ":one": {"N": "1"}},
            )
        except ConditionFailed:
            # already at or before ``hour`` (or no mark: every hour in the window is looked at); a new version all
            # the same, so a flush that read the mark before this cannot move it past ``hour``
            self._call(
                "update_item",
                Key=_UNSENT,
                UpdateExpression="ADD v :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    def _carries(self, hour: datetime) -> list[dict[str, Any]]:
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"CARRY#{hour_key(hour)}"}},
                ConsistentRead=True,
            )
            return [item for page in pages for item in page["Items"]]
        except ClientError as error:
            raise storage_error(error) from error

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return [record_from_item(item) for item in self._carries(hour) if "placed" not in item]

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return [(record_from_item(item), _placement(item)) for item in self._carries(hour) if "placed" in item]

    def write_carry(self, records: Sequence[MeteringRecord]) -> None:
        # each once: a carry a leaving buyer's final usage placed in earlier hours keeps its placement
        for record in records:
            with contextlib.suppress(ConditionFailed):
                self._call("put_item", Item=_carry_item(record, self), ConditionExpression="attribute_not_exists(pk)")

    def consume_carry(self, record: MeteringRecord) -> bool:
        try:
            self._call(
                "update_item",
                Key=_carry_key(record),
                UpdateExpression="SET #consumed = :yes",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#placed)",
                ExpressionAttributeNames={"#consumed": "consumed", "#placed": "placed"},
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except ConditionFailed:
            return False
        return True

    def place_carry(self, record: MeteringRecord, placement: Placement) -> Placement | None:
        placed = {"S": json.dumps([[hour_key(h) if h else None, str(q)] for h, q in placement])}
        with contextlib.suppress(ConditionFailed):
            self._call(
                "put_item",
                Item={**_carry_item(record, self), "placed": placed},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return placement
        with contextlib.suppress(ConditionFailed):
            self._call(
                "update_item",
                Key=_carry_key(record),
                UpdateExpression="SET #placed = :placed",
                ConditionExpression="attribute_not_exists(#consumed) AND attribute_not_exists(#placed)",
                ExpressionAttributeNames={"#consumed": "consumed", "#placed": "placed"},
                ExpressionAttributeValues={":placed": placed},
            )
            return placement
        item = self._call("get_item", Key=_carry_key(record), ConsistentRead=True).get("Item", {})
        return _placement(item) if "placed" in item else None

    def reconciled_until(self) -> ReconciledMark:
        item = self._call("get_item", Key=_RECONCILED, ConsistentRead=True).get("Item")
        if not item:
            return ReconciledMark(None, 0)
        return ReconciledMark(parse_hour_key(item["next"]["S"]), int(item.get("v", {}).get("N", "0")))

    def move_reconciled(self, seen: ReconciledMark, to: datetime) -> bool:
        # an update, never a put: a leaving buyer's final-usage step begins the reconciliation too, and its role
        # may update the metering table's items, not replace them
        values = {":to": {"S": hour_key(to)}, ":version": {"N": str(seen.version + 1)}}
        condition = "attribute_not_exists(pk)"
        if seen.hour is not None:
            condition = "#next = :seen AND " + ("v = :v" if seen.version else "attribute_not_exists(v)")
            values |= {":seen": {"S": hour_key(seen.hour)}} | ({":v": {"N": str(seen.version)}} if seen.version else {})
        try:
            self._call(
                "update_item",
                Key=_RECONCILED,
                UpdateExpression="SET #next = :to, v = :version",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#next": "next"},
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return False
        return True

    def _move_reconciled_back(self, hour: datetime) -> None:
        # records written in an hour the reconciliation has reached (a leaving buyer's carry placed, a redrive): it
        # is reconciled again, with them; a new version, so that a run reading it now cannot move past it (the
        # condition fails where the reconciliation has not come that far, or not started: it will see them then)
        with contextlib.suppress(ConditionFailed):
            self._call(
                "update_item",
                Key=_RECONCILED,
                UpdateExpression="SET #next = :hour ADD v :one",
                ConditionExpression="attribute_exists(pk) AND #next >= :hour",
                ExpressionAttributeNames={"#next": "next"},
                ExpressionAttributeValues={":hour": {"S": hour_key(hour)}, ":one": {"N": "1"}},
            )

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool:
        try:
            self._call(
                "put_item",
                Item={**_LEASE, "owner": {"S": owner}, "until": {"N": str(until.timestamp())}},
                ConditionExpression="attribute_not_exists(pk) OR #until < :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": {"N": str(now.timestamp())}},
            )
        except ConditionFailed:
            return False
        return True

    def release_lease(self, owner: str) -> None:
        # already expired and taken over by another flush: the lease is theirs now
        with contextlib.suppress(ConditionFailed):
            self._call(
                "delete_item",
                Key=_LEASE,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
            attempt = 0
            while requests:
                response = self._batch_write({self._table: requests})
                requests = response.get("UnprocessedItems", {}).get(self._table, [])
                if requests:
                    attempt += 1
                    if attempt > 8:
                        raise StorageError("DynamoDB left items unprocessed", code="Unprocessed", retryable=True)
                    time.sleep(min(2.0, 0.05 * 2**attempt))

    def _batch_write(self, request_items: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self._client.batch_write_item(RequestItems=request_items)
        except ClientError as error:
            raise storage_error(error) from error
        return response

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **request)
        except ClientError as error:
            if condition_failed(error):
                raise ConditionFailed(str(error), code="ConditionalCheckFailedException", retryable=False) from error
            raise storage_error(error) from error
        return response
