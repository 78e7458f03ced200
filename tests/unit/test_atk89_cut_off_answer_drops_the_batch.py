"""Attack 89 on 6440fcb: a BatchMeterUsage answer cut off on its way back is taken for an answer about no record, and
the call's records vanish from the flush: neither answered nor left pending.

botocore reads a response body without checking it against its Content-Length (``httpsession.py``:
``enforce_content_length=False``), and its JSON parser turns a body it cannot read into ``{"message": ...}``
(``BaseJSONParser._parse_body_as_json``). A 200 whose body is cut off by a clean end of the connection (a FIN, or a
TLS ragged EOF, which ``ssl`` suppresses by default) is therefore parsed as an answer with neither ``Results`` nor
``UnprocessedRecords``: no exception, nothing for ``Boto3MeteringGateway``'s ``BotoCoreError -> MeteringUnavailable``
("response cut off: the outcome is unknown") to see. ``_outcome`` answers ``BatchOutcome((), ())``, and
``Sender.deliver`` takes ``pending = list(outcome.unprocessed)`` = [] as "every record answered": the batch is not in
``tally.left_pending``, ``more_work`` stays false, and the unsent mark moves past its hour, so no later run sends it
(``ledger.pending`` reads from the mark). Its entries stay ``pending`` for good: the reconciliation stops at that
hour ("N records ... are not sent yet") and never reconciles any later hour.

At stake: up to 25 records per cut-off answer. Where Marketplace left them unprocessed (the answer said so, but was
cut off) they are never billed (the seller's revenue; parked out of window after 24 h with no alarm of their own);
where it billed them, the ledger never learns it, and the reconciliation of every later hour is blocked.

Fixed (``Sender.deliver``): a record the answer names neither in ``Results`` nor in ``UnprocessedRecords`` is of
unknown outcome and sent again as it is, as an unprocessed one is; a request the model takes whose call raised
anything but botocore's own errors (its answer unreadable) is ``MeteringUnavailable``, resent.

Suggested fix: in ``Boto3MeteringGateway._outcome`` (or ``Sender.deliver``), a record of the request that the answer
names neither in ``Results`` nor in ``UnprocessedRecords`` is of unknown outcome: raise ``MeteringUnavailable`` (the
same records are resent, idempotent at Marketplace), or keep such records pending. Likewise an exception raised
after the request was sent (a ``ValueError``/``AttributeError`` while parsing the answer: today re-raised raw, which
kills the flush run) is an unknown outcome, not a refusal: tell the two apart by whether the request went out (a
``before-send`` event handler marking the call), not by whether the model check would refuse its content.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.flush.records import BatchOutcome, MeteringRecord
from functions.flush.sender import Backoff, Sender, SendTally, TokenBucket
from functions.flush.service import FlushDeps, flush
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Dimension, Product, Settings
from functions.wiring import aws_clients
from tests.fakes import FakeMarketplace, InMemoryCustomers, InMemoryLedger, InMemoryUsage, licence_buyers_usage

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
LICENCE = "arn:aws:license-manager::294406891311:license:l-{:04d}"
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),))


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


@pytest.fixture
def cut_off_marketplace() -> Iterator[str]:
    """Answers every call 200 with Marketplace's answer (its records unprocessed), cut off halfway, then closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-l"))
                while len(body) < length:
                    body += conn.recv(65536)
                records = json.loads(body)["UsageRecords"]
                answer = json.dumps({"Results": [], "UnprocessedRecords": records}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer[: len(answer) // 2]
                )

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_an_answer_cut_off_is_an_unknown_outcome(cut_off_marketplace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    aws_clients.clear_clients()
    try:
        gateway = Boto3MeteringGateway(
            aws_clients.metering_client(replace(Settings(), marketplace_endpoint=cut_off_marketplace))
        )
        never = Backoff(sleep=lambda _: None, attempts=2)
        sender = Sender(gateway, TokenBucket(1000, sleep=lambda _: None), never, lambda: False)
        tally = SendTally()
        # Given calls Marketplace answers (200) but whose answers are cut off on the way back
        results = sender.deliver([_record(0), _record(1)], tally)
    finally:
        aws_clients.clear_clients()
    # Then their outcome is unknown: sent again as they are (three tries), and left pending, never taken as answered
    assert results == []
    assert [r.key for r in tally.left_pending] == [_record(0).key, _record(1).key]
    assert (tally.sent, tally.retried, tally.exhausted) == (6, 4, 2)


class FirstAnswerCutOff(FakeMarketplace):
    """Marketplace's rules, but the first call's answer is cut off (left unprocessed, and the answer lost): the
    gateway hands the flush what it hands it for such an answer (test above), an outcome naming no record."""

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if not self.calls:
            self.calls.append(list(records))
            return BatchOutcome((), ())
        return super().batch_meter_usage(records)


def test_a_call_whose_answer_was_cut_off_is_sent_again() -> None:
    # Given an hour of 30 buyers (two calls) and a first call whose answer is cut off
    usage = InMemoryUsage()
    usage.add(licence_buyers_usage(30, HOUR + timedelta(minutes=10), 3))
    marketplace = FirstAnswerCutOff()
    clock = ManualClock(HOUR + timedelta(hours=1, minutes=6))
    deps = FlushDeps(
        settings=Settings(products=(PRODUCT,)),
        usage=usage,
        ledger=InMemoryLedger(),
        customers=InMemoryCustomers(),
        gateway=marketplace,
        clock=clock,
        backoff=Backoff(sleep=lambda _: None),
        workers=1,
        limiter=TokenBucket(1000, sleep=lambda _: None),
    )
    first = flush(deps, remaining_ms=lambda: 900_000)
    clock.advance(timedelta(hours=1))
    flush(deps, remaining_ms=lambda: 900_000)  # the next hourly run
    # Then the run reports the cut-off call's records as not done, and a later run sends them: all 30 billed
    pending = [e for e in deps.ledger.entries_of_hour(HOUR) if e.status == "pending"]
    assert len(marketplace.billed) == 30, f"{len(marketplace.billed)} of 30 billed; {len(pending)} pending for good"
    assert first.left_pending + first.succeeded == 30, f"first run: {first.succeeded} billed, {first.left_pending} left"
