"""The hourly flush (EventBridge schedule, or invoked on demand): one submitter, reserved concurrency 1.

A backlog bigger than one invocation is continued by the next scheduled run: state lives in the metering table
(cursor, PENDING index), and each run stops ``reserve_ms`` before its deadline.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.flush.service import FlushReport, flush
from functions.flush.wiring import flush_deps
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings


def publish(report: FlushReport) -> None:
    metrics.add_metric(name="RecordsSent", unit=MetricUnit.Count, value=report.records_sent)
    metrics.add_metric(name="RecordsSucceeded", unit=MetricUnit.Count, value=report.succeeded)
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=report.records_retried)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=sum(report.failed.values()))
    metrics.add_metric(name="CustomerNotSubscribed", unit=MetricUnit.Count, value=report.not_subscribed)
    metrics.add_metric(name="DuplicateRecord", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="HoursSealed", unit=MetricUnit.Count, value=report.hours_sealed)
    metrics.add_metric(
        name="OldestUnsentHourAgeSeconds", unit=MetricUnit.Seconds, value=report.oldest_unsent_hour_age_seconds
    )
    for reason, count in report.failed.items():
        # one metric per reason, so an alarm can watch e.g. RecordsFailed_InvalidLicenseException
        metrics.add_metric(name=f"RecordsFailed_{reason}", unit=MetricUnit.Count, value=count)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = flush(flush_deps(get_settings()), remaining_ms=context.get_remaining_time_in_millis)
    publish(report)
    summary = {
        "skipped": report.skipped,
        "hours_sealed": report.hours_sealed,
        "records_sent": report.records_sent,
        "succeeded": report.succeeded,
        "failed": dict(report.failed),
        "left_pending": report.left_pending,
        "more_work": report.more_work,
    }
    logger.info("flush finished", extra=summary)
    return summary
