"""Attack 88 on 8d6ea68 (the metering client's ``parameter_validation=False``): botocore's check of the request was
what turned a value of the wrong type into ``ParamValidationError`` (a ``BotoCoreError``: ``BatchRejected``, the batch
halved until the bad record stands alone). Without it, botocore's JSON serializer meets the value itself and raises
what ``json.dumps`` / the serializer raise: ``TypeError`` (a ``Decimal``, ``bytes`` or ``set`` anywhere in a record),
``KeyError`` (a member the model does not know), ``AttributeError`` (a list where a structure goes) or ``ValueError``
(a timestamp it cannot read). None of them is a ``BotoCoreError`` or a ``ClientError``: they escape
``Boto3MeteringGateway.batch_meter_usage`` and ``Sender.deliver``, the flush worker's future raises, and the run dies
before writing the outcomes of the calls that did go out; every later run dies on the same record, and the good
records sharing its calls (and every call after it in that run) are never billed.

Severity: low today. The flush's own records only ever carry ``str``/``int``/aware ``datetime`` (tags read back from
JSON strings, quantities turned into ``int``/decimal text by ``functions.flush.calls.usage_record``), so no record now
reaches this; it is a robustness regression for any future field or data drift (e.g. a tag value stored as a
DynamoDB number comes back as a ``Decimal``).

Suggested fix: in the gateway, treat an exception raised while the request is built (before any byte is sent) as a
refusal of its content: catch ``(TypeError, ValueError, KeyError, AttributeError)`` from the call and raise
``BatchRejected("SerializationError", ...)`` (botocore builds the request before it opens a connection, so the call
was never made); or keep botocore's validation for the types only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from functions.flush.records import BatchRejected, MeteringRecord
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Settings
from functions.usage.model import Allocation
from functions.wiring import aws_clients

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
LICENCE = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef"


def test_a_record_botocore_cannot_serialize_is_refused_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = replace(Settings(), marketplace_endpoint="http://127.0.0.1:9")  # nothing listens: nothing is sent
    aws_clients.clear_clients()
    try:
        gateway = Boto3MeteringGateway(aws_clients.metering_client(settings))
        record = MeteringRecord(
            key=f"p#{LICENCE}#calls",
            hour=HOUR,
            product_code="p",
            customer_key=LICENCE,
            customer_aws_account_id="111122223333",
            dimension="calls",
            quantity=Decimal(1),
            integer=True,
            license_arn=LICENCE,
            # a tag value of the wrong type (botocore's validation refused it: ParamValidationError)
            allocations=(Allocation((("team", Decimal(5)),), Decimal(1)),),  # type: ignore[arg-type]
        )
        with pytest.raises(BatchRejected) as refusal:  # never sent: nothing listens there, that would be no answer
            gateway.batch_meter_usage([record])
        assert refusal.value.code == "ParamValidationError"
        assert "UsageRecords[0].UsageAllocations[0].Tags[0].Value" in str(refusal.value)
    finally:
        aws_clients.clear_clients()
