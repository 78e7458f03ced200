"""`cli doctor`'s own input (each bad argument or run file answered in one line naming it, exit 2, no traceback), its
report, and what it replays and reads: AWS's examples as they reach the stack, its outputs by name."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from operations.cli import main as cli
from operations.doctor import Check, StackView, example_events, report


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stage", "Beta!"], "argument --stage: 'Beta!': stage: must be 1 to 16 lower-case letters and digits"),
        (["--expect", "sometimes"], "argument --expect: invalid choice: 'sometimes'"),
        (["--run-file", "{missing}"], "error: no local stack: start one with `make run` (it writes {missing})"),
        (["--local", "--stage", "beta"], "error: --local and a deployed stack (--stage, --stack, --profile, --region)"),
    ],
)
def test_a_bad_argument_is_one_line_naming_it(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "none.json")
    out, err = io.StringIO(), io.StringIO()
    assert cli(["doctor", *(a.format(missing=missing) for a in argv)], out=out, err=err, environ={}) == 2
    said = err.getvalue() + capsys.readouterr().err  # argparse writes its own errors to stderr
    assert message.format(missing=missing) in said
    assert "Traceback" not in said
    assert out.getvalue() == ""


def test_a_run_file_of_another_kind_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"environment": {}}')
    out, err = io.StringIO(), io.StringIO()
    assert cli(["doctor", "--run-file", str(other)], out=out, err=err, environ={}) == 2
    assert err.getvalue() == f"error: {other} is not a local stack description (it lacks 'stack')\n"


def test_the_report_is_a_line_per_check_with_the_fix_under_a_failure() -> None:
    checks = [
        Check("credentials", True, "ResolveCustomer answers a made-up token InvalidTokenException: the seller's"),
        Check("alarms", False, "MonitoringFlushErrors: ALARM", "each alarm's description says what it watches"),
    ]
    assert report(checks, as_json=False).splitlines() == [
        "ok   credentials  ResolveCustomer answers a made-up token InvalidTokenException: the seller's",
        "FAIL alarms       MonitoringFlushErrors: ALARM",
        "                  fix: each alarm's description says what it watches",
        "not ready: 1 check(s) failed",
    ]
    assert json.loads(report(checks[:1], as_json=True)) == {
        "ready": True,
        "checks": [{"name": "credentials", "passed": True, "found": checks[0].found, "fix": None}],
    }


def test_awss_examples_reach_the_stacks_account_and_each_product() -> None:
    events = dict(example_events("210987654321", ["ours-a", "ours-b"]))
    assert len(events) == 19 + 2 * 2  # 19 agreement examples once, 2 licence examples per product
    assert {e["account"] for e in events.values()} == {"210987654321"}
    assert events["license_updated.json (ours-b)"]["detail"]["product"]["code"] == "ours-b"
    assert "<" not in json.dumps(events)  # no placeholder left


def test_an_output_is_found_by_its_name_whatever_construct_made_it() -> None:
    view = StackView("s", "1", {"RegistrationFulfillmentUrl9AFBE54F": "https://x/register", "UsageApiUrl": "u"}, ())
    assert view.output("FulfillmentUrl") == "https://x/register"
    assert view.output("UsageApiUrl") == "u"
    assert view.output("Url") is None
