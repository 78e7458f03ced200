"""BatchMeterUsage: the flush's records in, per-record outcomes out, botocore's errors as the flush's exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.validate import validate_parameters

from functions.flush.calls import MAX_RECORDS_PER_CALL, usage_record
from functions.flush.records import BatchOutcome, BatchRejected, MeteringRecord, MeteringUnavailable, RecordOutcome
from functions.usage.model import hour_of

RETRYABLE_CODES = frozenset({"ThrottlingException", "InternalServiceErrorException"})
# what botocore raises, besides its own errors, for a value it cannot write or an answer it cannot read
_UNWRITABLE_OR_UNREADABLE = (TypeError, ValueError, LookupError, AttributeError, ArithmeticError, RuntimeError)


class Boto3MeteringGateway:
    def __init__(self, client: Any) -> None:
        self._client = client

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if not records or len(records) > MAX_RECORDS_PER_CALL:
            raise ValueError(f"send 1..{MAX_RECORDS_PER_CALL} records, not {len(records)}")
        request: dict[str, Any] = {"UsageRecords": [usage_record(r) for r in records]}
        if records[0].license_arn is None:  # legacy customers; never together with LicenseArn
            request["ProductCode"] = records[0].product_code
        try:
            response = self._client.batch_meter_usage(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            message = error.response.get("Error", {}).get("Message", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in RETRYABLE_CODES or status >= 500:
                raise MeteringUnavailable(code, message) from error
            raise BatchRejected(code, message) from error
        except ParamValidationError as error:  # botocore's own check of the request: never sent, and never will be
            raise BatchRejected(type(error).__name__, str(error)) from error
        except _UNWRITABLE_OR_UNREADABLE as error:
            # The app's client leaves the model check to Marketplace, so a value botocore cannot write at all (of a
            # type the model does not take) fails while the request is built, never sent: the check names it then.
            # A request the model takes failed elsewhere: its answer could not be read (not JSON, a timestamp out of
            # range), and whether Marketplace billed it is unknown: sent again as it is (attack 89).
            refusal = self._refusal_of(request)
            if refusal is None:
                raise MeteringUnavailable(type(error).__name__, str(error)) from error
            raise refusal from error
        except BotoCoreError as error:  # no connection, timeout, response cut off: the outcome is unknown
            raise MeteringUnavailable(type(error).__name__, str(error)) from error
        try:
            return self._outcome(records, response)
        except _UNWRITABLE_OR_UNREADABLE as error:  # a 200 of another shape: no answer
            raise MeteringUnavailable(type(error).__name__, str(error)) from error

    def _refusal_of(self, request: dict[str, Any]) -> BatchRejected | None:
        """The model check's refusal of ``request`` (what botocore's own check raises), or None if it passes."""
        try:
            validate_parameters(request, self._client.meta.service_model.operation_model("BatchMeterUsage").input_shape)
        except ParamValidationError as error:
            return BatchRejected(type(error).__name__, str(error))
        return None

    @staticmethod
    def _outcome(records: Sequence[MeteringRecord], response: dict[str, Any]) -> BatchOutcome:
        """The answer's outcome of each record of the call it names, once; an entry naming no record of the call (or
        without a status) answers none, and the records it leaves unanswered are sent again (``Sender.deliver``):
        attack 90, where one such entry threw away the outcomes of the call's other records and failed the run."""
        # Marketplace's own identity of a record: customer, dimension, hour (one batch may span hours)
        by_identity = {(r.customer, r.dimension, r.hour): r for r in records}

        def record_of(usage: dict[str, Any]) -> MeteringRecord | None:
            customer = str(usage.get("LicenseArn") or usage.get("CustomerIdentifier") or "")
            return by_identity.pop((customer, str(usage.get("Dimension")), hour_of(usage["Timestamp"])), None)

        outcomes = []
        for result in response.get("Results", []):
            if result.get("Status") and (record := record_of(result["UsageRecord"])):
                outcomes.append(RecordOutcome(record, result["Status"], result.get("MeteringRecordId")))
        unprocessed = (record_of(u) for u in response.get("UnprocessedRecords", []))
        return BatchOutcome(outcomes=tuple(outcomes), unprocessed=tuple(r for r in unprocessed if r))
