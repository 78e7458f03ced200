"""The hourly flush (EventBridge schedule, on demand, or its own continuation): one submitter, reserved concurrency 1.

A run that stops before its deadline with work left invokes this function again asynchronously, so a backlog
bigger than one invocation is worked through at once; state lives in the metering table (seal cursor, unsent mark).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import snapstart
from functions.flush.service import FlushReport, flush_and_continue
from functions.observability import METRICS_NAMESPACE, SERVICE, for_stage, logger, metrics, tracer
from functions.settings import get_settings
from functions.wiring import flush as flush_wiring

snapstart.register(flush_wiring.build.cache_clear)  # before the snapshot: see functions.snapstart


def publish(report: FlushReport) -> None:
    metrics.add_metric(name="RecordsSent", unit=MetricUnit.Count, value=report.records_sent)
    metrics.add_metric(name="RecordsSucceeded", unit=MetricUnit.Count, value=report.succeeded)
    metrics.add_metric(name="RecordsDryRun", unit=MetricUnit.Count, value=report.dry_run)
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=report.records_retried)
    # the total (service dimension only) is what the alarm watches; the per-reason series below explain it
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=sum(report.failed.values()))
    metrics.add_metric(
        name="RecordsUnprocessedAfterRetries", unit=MetricUnit.Count, value=report.unprocessed_after_retries
    )
    metrics.add_metric(name="CustomerNotSubscribed", unit=MetricUnit.Count, value=report.not_subscribed)
    metrics.add_metric(name="DuplicateRecord", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="HoursSealed", unit=MetricUnit.Count, value=report.hours_sealed)
    metrics.add_metric(
        name="OldestUnsentHourAgeSeconds", unit=MetricUnit.Seconds, value=report.oldest_unsent_hour_age_seconds
    )
    for reason, count in sorted(report.failed.items()):
        # its own EMF document: one metric name, one more dimension, whatever the reason
        with single_metric(
            name="RecordsFailed",
            unit=MetricUnit.Count,
            value=count,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": SERVICE, **metrics.default_dimensions},
        ) as metric:
            metric.add_dimension(name="reason", value=reason)


def summary(report: FlushReport) -> dict[str, Any]:
    return {
        "skipped": report.skipped,
        "hours_sealed": report.hours_sealed,
        "records_sent": report.records_sent,
        "succeeded": report.succeeded,
        "dry_run": report.dry_run,
        "failed": dict(report.failed),
        "left_pending": report.left_pending,
        "unprocessed_after_retries": report.unprocessed_after_retries,
        "more_work": report.more_work,
        "continued": report.continued,
    }


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    for_stage(settings.stage)
    run = int(event.get("continuation", 0)) if isinstance(event, dict) else 0
    report = flush_and_continue(
        flush_wiring.build(settings),
        remaining_ms=context.get_remaining_time_in_millis,
        # as it was invoked (an alias with SnapStart): the continuation starts the way the schedule started it
        continue_later=flush_wiring.self_invocation(settings, context.invoked_function_arn, run + 1),
    )
    publish(report)
    result = summary(report)
    logger.info("flush finished", extra={**result, "continuation": run})
    return result
