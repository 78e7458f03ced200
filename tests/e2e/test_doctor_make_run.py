"""`cli doctor` on the local stack as `make run` starts it, through the same checks a deployed stack gets (its AWS
clients pointed at the emulator, moto's EventBridge, SQS and CloudWatch, and DynamoDB Local): ready once a flush has
run, and each check made to fail once by the fault it exists to catch, then ready again."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from local.marketplace.admin import AdminClient
from operations.cli import main as cli
from tests.e2e.test_buyer_life import (  # noqa: F401  (stack: the fixture)
    BUYER,
    PRODUCT,
    RunningStack,
    stack,
    usage_event,
)

SELLER_KEY = "AKIALOCALSTACKSELLER"  # local.stack's credentials for the app
ALL_CHECKS = [
    "credentials",
    "entitlements",
    "fulfillment URL",
    "lifecycle rules",
    "dead letters",
    "flush schedule",
    "last flush",
    "backlog",
    "alarms",
    "metering mode",
]


def doctor(run_file: Path, *options: str) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    status = cli(["doctor", "--json", "--run-file", str(run_file), *options], out=out, err=err, environ={})
    assert status in (0, 1), err.getvalue()
    report = json.loads(out.getvalue())
    assert [c["name"] for c in report["checks"]] == ALL_CHECKS
    assert report["ready"] is (status == 0)
    return status, report


def failing(run_file: Path, *options: str) -> dict[str, str]:
    """The failed checks, each with what it found."""
    _, report = doctor(run_file, *options)
    return {c["name"]: c["found"] for c in report["checks"] if not c["passed"]}


def engine(running: RunningStack, service: str) -> Any:
    """A client of the stack's moto (EventBridge, SQS, CloudWatch), as an operator's AWS CLI would reach AWS."""
    endpoint = json.loads(running.run_file.read_text())["environment"]["SQS_ENDPOINT"]
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def resource(running: RunningStack, prefix: str) -> str:
    described = json.loads(running.run_file.read_text())["stack"]["resources"]
    (found,) = [r["physical_id"] for r in described if r["logical_id"].startswith(prefix)]
    return str(found)


def register(running: RunningStack, account: str = BUYER) -> dict[str, Any]:
    """A buyer subscribed in the emulator and registered on our fulfillment URL, as a browser posts it; active once
    the lifecycle queue is handled."""
    subscription = AdminClient(running.marketplace_url).subscribe(PRODUCT, account)
    form = urllib.parse.urlencode({"x-amzn-marketplace-token": subscription["registration_token"]}).encode()
    request = urllib.request.Request(
        running.api_url + "/register", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=30) as page:
        assert page.status == 200
    running.post("/_local/drain", {})
    [customer] = [c for c in running.cli("customers") if c["account"] == account]
    assert customer["state"] == "active"
    return dict(customer)


def test_doctor_checks_make_runs_stack_and_names_each_fault(stack: RunningStack, tmp_path: Path) -> None:  # noqa: F811
    run_file = stack.run_file
    # Given the stack just started: no flush has run yet (make run's schedule is off here)
    assert failing(run_file) == {"last flush": "0 flush runs in the last 2 hours, 0 failed"}
    # When a flush runs, Then every check passes: exit 0, and the mode is what the operator expects
    stack.post("/_local/flush", {})
    status, report = doctor(run_file, "--expect", "live")
    assert status == 0, report
    assert failing(run_file, "--expect", "dry-run") == {"metering mode": "local meters live (bills), not dry-run"}

    # wrong account: the credentials are not the publishing account's
    admin = AdminClient(stack.marketplace_url)
    admin.put_config(access_key_accounts={SELLER_KEY: "999988887777"})
    found = failing(run_file)
    assert set(found) == {"credentials", "entitlements"}
    assert found["credentials"].startswith("ResolveCustomer answered AccessDeniedException")
    assert "AccessDeniedException" in found["entitlements"]
    admin.put_config(access_key_accounts={})

    # the fulfillment URL is not our page (a product pointed at the wrong address)
    described = json.loads(run_file.read_text())
    for key in described["stack"]["outputs"]:
        if "FulfillmentUrl" in key:
            described["stack"]["outputs"][key] = stack.api_url + "/usage"
    elsewhere = tmp_path / "wrong-url.json"
    elsewhere.write_text(json.dumps(described))
    assert list(failing(elsewhere)) == ["fulfillment URL"]
    assert "answered 403, not our page" in failing(elsewhere)["fulfillment URL"]

    # a disabled rule, then a rule whose pattern no longer matches AWS's licence examples
    events = engine(stack, "events")
    agreements, licences = resource(stack, "LifecycleAgreementEvents"), resource(stack, "LifecycleLicenseEvents")
    events.disable_rule(Name=agreements)
    found = failing(run_file)
    assert list(found) == ["lifecycle rules"]
    assert f"{agreements} is DISABLED" in found["lifecycle rules"]
    # every agreement example, the seller's other events' too (the first in the list: the advisories)
    assert "no enabled rule matches advisory_issued_manufacturer.json" in found["lifecycle rules"]
    assert "amended_manufacturer.json, " in found["lifecycle rules"]
    events.enable_rule(Name=agreements)
    pattern = events.describe_rule(Name=licences)["EventPattern"]
    events.put_rule(Name=licences, EventPattern=pattern.replace(PRODUCT, "another-product"))
    found = failing(run_file)
    assert list(found) == ["lifecycle rules"]
    assert found["lifecycle rules"] == (
        f"no enabled rule matches license_deprovisioned.json ({PRODUCT}), license_updated.json ({PRODUCT})"
    )
    events.put_rule(Name=licences, EventPattern=pattern)

    # a full dead-letter queue
    sqs, dead_letters = engine(stack, "sqs"), resource(stack, "LifecycleNotificationsDeadLetters")
    sqs.send_message(QueueUrl=dead_letters, MessageBody="{}")
    assert failing(run_file) == {"dead letters": f"notifications the lifecycle could not handle: 1 in {dead_letters}"}
    sqs.purge_queue(QueueUrl=dead_letters)

    # the flush's schedule disabled
    schedule = resource(stack, "FlushSchedule")
    events.disable_rule(Name=schedule)
    assert failing(run_file) == {"flush schedule": f"{schedule} rate(1 hour) DISABLED"}
    events.enable_rule(Name=schedule)
    # its month-end schedule disabled: a Marketplace outage over the hourly run before 06:00 UTC on the 1st would
    # forfeit last month's records again
    month_end = resource(stack, "FlushMonthEndSchedule")
    events.disable_rule(Name=month_end)
    assert failing(run_file) == {"flush schedule": f"{month_end} cron(0/10 0-5 1 * ? *) DISABLED"}
    events.enable_rule(Name=month_end)

    # an alarm firing
    cloudwatch, alarm = engine(stack, "cloudwatch"), resource(stack, "MonitoringFlushErrors")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    assert failing(run_file) == {"alarms": f"{alarm}: ALARM"}
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test")
    assert doctor(run_file)[0] == 0

    # a stale flush, and usage left unsent for 7 hours
    customer = register(stack)
    stack.post("/usage", {"events": [usage_event("d1", customer, 3, datetime.now(UTC))]}, {"x-api-key": stack.api_key})
    stack.post("/_local/clock", {"advance_seconds": 7 * 3600})
    found = failing(run_file)
    assert set(found) == {"last flush", "backlog"}
    assert found["backlog"].startswith("1 unsent and 0 parked records older than 6 hours")
    # When the operator flushes, Then the stack is ready again: the usage billed
    stack.post("/_local/flush", {})
    assert doctor(run_file)[0] == 0
    assert [r["quantity"] for r in admin.ledger()] == ["3"]
