"""The hourly flush (EventBridge schedule, on demand, or its own continuation): one submitter, reserved concurrency 1.

A run that stops before its deadline with work left invokes this function again asynchronously, so a backlog
bigger than one invocation is worked through at once; state lives in the metering table (seal cursor, unsent mark).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import snapstart
from functions.flush import customer
from functions.flush.run import flush_run
from functions.handlers import imported
from functions.observability import for_stage, logger, metrics
from functions.settings import Settings, get_settings
from functions.wiring import flush as flush_wiring

snapstart.register(flush_wiring.build.cache_clear)  # before the snapshot: see functions.snapstart

RESERVE_MS = 60_000
snapstart.register(flush_wiring.audit.cache_clear)


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
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    for_stage(settings.stage)
    if isinstance(event, dict) and event.get(customer.FINAL_USAGE_REQUESTS) is True:
        return answer_final_usage_requests(settings, context)
    run = int(event.get("continuation", 0)) if isinstance(event, dict) else 0
    outcome = flush_run(
        flush_wiring.build(settings),
        lambda: flush_wiring.audit(settings),
        run=run,
        remaining_ms=context.get_remaining_time_in_millis,
        # as it was invoked (an alias with SnapStart): the continuation starts the way the schedule started it
        continue_later=flush_wiring.self_invocation(settings, context.invoked_function_arn, run + 1),
    )
    result = outcome.summary()
    logger.info("flush finished", extra={**result, "continuation": run})
    return result


imported()  # last: see functions.handlers
