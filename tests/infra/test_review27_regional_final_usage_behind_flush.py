"""Review 27: in another metering Region, a leaving buyer's final usage must not wait behind the flush.

The main Region sends a leaving buyer's final usage from the lifecycle worker, beside any flush run. Another Region
sends it when its 5-minute schedule answers the main Region's request (``functions.flush.customer
.answer_final_usage_requests``), and that schedule invoked the flush function itself: reserved concurrency 1, runs of
up to 15 minutes, a backlog continued run after run. While a run lasts, the tick is throttled and kept in Lambda's
queue, retried with a backoff of up to 5 minutes. Synth allows ``regions`` only where the cutoff (45 min) + the delay
(90 s) + the 5-minute tick + the 60 s in-flight margin end before the final hour does: 7.5 minutes of slack by
default. A flush run in that Region longer than that at the wrong moment (a big hour at 10 calls/s: 250 records a
second; Marketplace slow or throttling; a backlog's continuations) sends the buyer's final hour after Marketplace
stopped taking it: CustomerNotSubscribed, those units never billed.
"""

from __future__ import annotations

import json
from typing import Any

from tests.infra.test_regions import OTHERS, resources, templates  # noqa: F401  (templates: the module's fixture)

FINAL_USAGE_INPUT = '{"final_usage_requests":true}'


def _function_of(template: dict[str, Any], target_arn: Any) -> str:
    """The logical id of the function a rule's target invokes (itself, or through its alias)."""
    functions = resources(template, "AWS::Lambda::Function")
    named = json.dumps(target_arn)
    for name, alias in resources(template, "AWS::Lambda::Alias").items():
        if f'"{name}"' in named:
            named = json.dumps(alias["Properties"]["FunctionName"])
    (found,) = [name for name in functions if f'"{name}"' in named]
    return found


def test_a_regions_final_usage_answers_run_beside_its_flush_not_after_it(templates: dict[str, Any]) -> None:  # noqa: F811
    for region in OTHERS:
        template = templates[region]
        rules = resources(template, "AWS::Events::Rule").values()
        scheduled = [r["Properties"] for r in rules if "ScheduleExpression" in r["Properties"]]
        (answers,) = [r for r in scheduled if r["Targets"][0].get("Input") == FINAL_USAGE_INPUT]
        hourly = next(r for r in scheduled if r["ScheduleExpression"].startswith("rate(1 hour"))
        flush = _function_of(template, hourly["Targets"][0]["Arn"])
        flush_properties = resources(template, "AWS::Lambda::Function")[flush]["Properties"]
        assert flush_properties["ReservedConcurrentExecutions"] == 1  # one run at a time, up to 15 minutes each
        assert _function_of(template, answers["Targets"][0]["Arn"]) != flush, (
            f"{region}: a leaving buyer's final usage waits for the flush's run (throttled by its reserved "
            "concurrency of 1) and may be sent after their final hour"
        )
