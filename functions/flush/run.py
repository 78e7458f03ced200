"""One invocation of the flush function (the schedule's, an on-demand one, or a continuation): flush, publish what it
did, and, where it bills and has time left, reconcile every settled hour not reconciled yet against CloudTrail.

The handler (``functions/handlers/flush.py``) only builds the collaborators and logs the result; the simulator
(``sim/``) runs this same function on its fakes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.flush.audit import AuditDeps, HourReconciled, Reconciled, TrailUnavailable, reconcile_due
from functions.flush.service import FlushDeps, FlushReport, flush_and_continue
from functions.observability import METRICS_NAMESPACE, SERVICE, logger, metrics
from functions.storage.errors import StorageError


@dataclass(frozen=True)
class RunResult:
    """One flush run: its report, and the hours it reconciled."""

    report: FlushReport
    # the hours it reconciled (None: none were tried: skipped, continued, dry run, or CloudTrail unreadable)
    reconciled: Reconciled | None = None

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
        } | (
            {}
            if self.reconciled is None
            else {
                "reconciled_hours": [h.hour.isoformat() for h in self.reconciled.hours],
                "reconciliation_mismatches": sum(len(h.findings) for h in self.reconciled.hours),
                "reconciliation_hours_behind": self.reconciled.behind,
            }
        )


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
    # a run that left work for a continuation has spent its time; where nothing is billed there is nothing to check
    if report.skipped or report.continued or not deps.settings.bills:
        return RunResult(report)
    return RunResult(report, reconcile(audit(), deps.clock.now(), lambda: remaining_ms() < RECONCILE_RESERVE_MS))


# what a run keeps of its time when it starts reconciling another hour (as the flush stops sealing)
RECONCILE_RESERVE_MS = 60_000


def publish(report: FlushReport) -> None:
    metrics.add_metric(name="RecordsSent", unit=MetricUnit.Count, value=report.records_sent)
    metrics.add_metric(name="RecordsSucceeded", unit=MetricUnit.Count, value=report.succeeded)
    metrics.add_metric(name="RecordsDryRun", unit=MetricUnit.Count, value=report.dry_run)
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=report.records_retried)
    metrics.add_metric(
        name="RecordsUnprocessedAfterRetries", unit=MetricUnit.Count, value=report.unprocessed_after_retries
    )
    metrics.add_metric(name="HoursSealed", unit=MetricUnit.Count, value=report.hours_sealed)
    metrics.add_metric(
        name="OldestUnsentHourAgeSeconds", unit=MetricUnit.Seconds, value=report.oldest_unsent_hour_age_seconds
    )
    publish_failed(report.failed)


def publish_failed(failed: Counter[str]) -> None:
    """Records parked (by reason, Marketplace's final statuses included): the flush's and a leaving buyer's."""
    # the total (service dimension only) is what the alarm watches; the per-reason series below explain it
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=sum(failed.values()))
    metrics.add_metric(name="CustomerNotSubscribed", unit=MetricUnit.Count, value=failed["CustomerNotSubscribed"])
    metrics.add_metric(name="DuplicateRecord", unit=MetricUnit.Count, value=failed["DuplicateRecord"])
    for reason, count in sorted(failed.items()):
        # its own EMF document: one metric name, one more dimension, whatever the reason
        with single_metric(
            name="RecordsFailed",
            unit=MetricUnit.Count,
            value=count,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": SERVICE, **metrics.default_dimensions},
        ) as metric:
            metric.add_dimension(name="reason", value=reason)


def reconcile(deps: AuditDeps, now: datetime, out_of_time: Callable[[], bool]) -> Reconciled | None:
    """Every settled hour not reconciled yet, once each, oldest first (``reconcile_due``). Metrics:
    ``ReconciliationMismatches`` per hour finished (its alarm and dashboard widget; parked records are among them, so
    a record parked by a run that died before publishing its own count is counted here), ``ReconciliationHoursBehind``
    (alarmed above 3), or ``ReconciliationUnavailable`` when CloudTrail or the ledger cannot be read (None then)."""
    try:
        done = reconcile_due(deps, now, out_of_time, report_hour)
    except (TrailUnavailable, StorageError):  # the flush billed; the next run reconciles from where this one stood
        logger.exception("reconciliation: CloudTrail or the ledger could not be read")
        metrics.add_metric(name="ReconciliationUnavailable", unit=MetricUnit.Count, value=1)
        return None
    metrics.add_metric(name="ReconciliationHoursBehind", unit=MetricUnit.Count, value=done.behind)
    if done.waiting:
        logger.info("reconciliation waits", extra={"hours_behind": done.behind, "waiting": done.waiting})
    return done


def report_hour(hour: HourReconciled) -> None:
    """One hour's findings, published at once (before the reconciliation moves past the hour): an invocation that
    dies later loses none of them."""
    metrics.add_metric(name="ReconciliationMismatches", unit=MetricUnit.Count, value=len(hour.findings))
    for finding in hour.findings:
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
    metrics.flush_metrics()
