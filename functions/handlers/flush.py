"""The hourly flush (EventBridge schedule, on demand, or its own continuation): one submitter, reserved concurrency 1.

A run that stops before its deadline with work left invokes this function again asynchronously, so a backlog
bigger than one invocation is worked through at once; state lives in the metering table (seal cursor, unsent mark).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import snapstart
from functions.flush import customer
from functions.flush.audit import Finding, TrailUnavailable, audit_hour, settled_hour
from functions.flush.service import FlushReport, flush_and_continue
from functions.observability import METRICS_NAMESPACE, SERVICE, for_stage, logger, metrics, tracer
from functions.settings import Settings, get_settings
from functions.storage.errors import StorageError
from functions.wiring import flush as flush_wiring

snapstart.register(flush_wiring.build.cache_clear)  # before the snapshot: see functions.snapstart

RESERVE_MS = 60_000
snapstart.register(flush_wiring.audit.cache_clear)


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


def audit_settled_hour(settings: Settings, now: datetime) -> list[Finding] | None:
    """The reconciliation's check of the hour that closed two hours ago (sent by now, and in CloudTrail): its sealed
    records against what CloudTrail shows AWS received. Metric ``ReconciliationMismatches`` (its alarm and dashboard
    widget), or ``ReconciliationUnavailable`` when CloudTrail cannot be read; None then."""
    hour = settled_hour(now)
    try:
        findings = audit_hour(flush_wiring.audit(settings), hour)
    except (TrailUnavailable, StorageError):  # the flush billed; its check waits for the next hour's run
        logger.exception("reconciliation: CloudTrail or the ledger could not be read", extra={"hour": hour.isoformat()})
        metrics.add_metric(name="ReconciliationUnavailable", unit=MetricUnit.Count, value=1)
        return None
    metrics.add_metric(name="ReconciliationMismatches", unit=MetricUnit.Count, value=len(findings))
    for finding in findings:
        logger.warning(
            "reconciliation mismatch",
            extra={
                "hour": finding.hour.isoformat(),
                "customer": finding.customer,
                "dimension": finding.dimension,
                "mismatch": finding.kind,
                "detail": finding.detail,
            },
        )
    return findings


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


def answer_final_usage_requests(settings: Settings, context: LambdaContext) -> dict[str, Any]:
    """Another metering Region's schedule (every few minutes): the leaving buyers the main Region asked about."""
    answers = customer.answer_final_usage_requests(
        flush_wiring.build(settings),
        flush_wiring.final_usage_requests(settings),
        out_of_time=lambda: context.get_remaining_time_in_millis() < RESERVE_MS,
    )
    sent = {key: asdict(report) for key, report in answers.items() if report is not None}
    metrics.add_metric(name="FinalUsageRequestsAnswered", unit=MetricUnit.Count, value=len(sent))
    metrics.add_metric(name="FinalUsageRequestsLeft", unit=MetricUnit.Count, value=len(answers) - len(sent))
    logger.info("final usage requests answered", extra={"answered": sorted(sent), "left": len(answers) - len(sent)})
    return {"final_usage_requests": sent, "left": sorted(key for key, report in answers.items() if report is None)}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    for_stage(settings.stage)
    if isinstance(event, dict) and event.get(customer.FINAL_USAGE_REQUESTS) is True:
        return answer_final_usage_requests(settings, context)
    run = int(event.get("continuation", 0)) if isinstance(event, dict) else 0
    report = flush_and_continue(
        flush_wiring.build(settings),
        remaining_ms=context.get_remaining_time_in_millis,
        # as it was invoked (an alias with SnapStart): the continuation starts the way the schedule started it
        continue_later=flush_wiring.self_invocation(settings, context.invoked_function_arn, run + 1),
    )
    publish(report)
    result = summary(report)
    # once per scheduled or on-demand run (not per continuation, nor a run that left work for one: its time is
    # spent), and only where records are billed
    if run == 0 and not report.skipped and not report.continued and settings.metering_mode == "live":
        findings = audit_settled_hour(settings, flush_wiring.build(settings).clock.now())
        result["reconciliation_mismatches"] = None if findings is None else len(findings)
    logger.info("flush finished", extra={**result, "continuation": run})
    return result
