"""Marketplace lifecycle notifications from SQS (EventBridge events and legacy SNS envelopes), and our own
delayed final-usage step. Each message on its own: a bad one is reported as a batch item failure (retried, then
dead-lettered) while the rest of the batch succeeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import snapstart
from functions.handlers import imported
from functions.observability import for_stage, logger, metrics
from functions.settings import get_settings
from functions.wiring import lifecycle as lifecycle_wiring

snapstart.register(lifecycle_wiring.build.cache_clear)  # before the snapshot: see functions.snapstart

# Time kept back for writing results and reporting the batch before the function's deadline.
RESERVE_MS = 20_000

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    return lifecycle_wiring.build(get_settings()).process(
        record.body,
        message_id=record.message_id,
        sent_at=datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, UTC),
        out_of_time=lambda: lambda_context.get_remaining_time_in_millis() < RESERVE_MS,
    )


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = get_settings()
    for_stage(settings.stage)
    lifecycle_wiring.build(settings).idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


imported()  # last: see functions.handlers
