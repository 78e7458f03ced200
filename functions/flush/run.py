"""One invocation of the flush function (the schedule's, an on-demand one, or a continuation): flush, publish what it
did, and, once per scheduled or on-demand run that bills, check a settled hour against CloudTrail.

The handler (``functions/handlers/flush.py``) only builds the collaborators and logs the result; the simulator
(``sim/``) runs this same function on its fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.flush.audit import AuditDeps, Finding, TrailUnavailable, audit_hour, settled_hour
from functions.flush.service import FlushDeps, FlushReport, flush_and_continue
from functions.observability import METRICS_NAMESPACE, SERVICE, logger, metrics
from functions.storage.errors import StorageError


@dataclass(frozen=True)
class RunResult:
    report: FlushReport
    audited: datetime | None = None  # the settled hour checked (None: a continuation's run, or in dry run)
    findings: list[Finding] | None = None  # its findings; None where CloudTrail or the ledger could not be read

    def summary(self) -> dict[str, Any]:
        report = self.report
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


def flush_run(
    deps: FlushDeps,
    audit: Callable[[], AuditDeps],
    *,
    run: int,
    remaining_ms: Callable[[], int],
    continue_later: Callable[[], None],
) -> RunResult:
    """``run``: 0 for a scheduled or on-demand invocation, n for the n-th continuation of one."""
    report = flush_and_continue(deps, remaining_ms=remaining_ms, continue_later=continue_later)
    publish(report)
    # once per scheduled or on-demand run (not per continuation, nor a run that left work for one: its time is
    # spent), and only where records are billed
    if run == 0 and not report.skipped and not report.continued and deps.settings.metering_mode == "live":
        now = deps.clock.now()
        return RunResult(report, audited=settled_hour(now), findings=audit_settled_hour(audit(), now))
    return RunResult(report)


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


def audit_settled_hour(deps: AuditDeps, now: datetime) -> list[Finding] | None:
    """The reconciliation's check of the hour that closed two hours ago (sent by now, and in CloudTrail): its sealed
    records against what CloudTrail shows AWS received. Metric ``ReconciliationMismatches`` (its alarm and dashboard
    widget), or ``ReconciliationUnavailable`` when CloudTrail cannot be read; None then."""
    hour = settled_hour(now)
    try:
        findings = audit_hour(deps, hour)
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
