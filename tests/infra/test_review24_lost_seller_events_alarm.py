"""Review 24: a seller event registration failed to publish is counted (``RegistrationEventsNotPublished``) and never
sent again (``tests/unit/test_review24_lost_seller_events.py``); at the least an operator must hear of it. No alarm
watches the metric, and no page of docs/ says what to do when it moves."""

from __future__ import annotations

from pathlib import Path

from aws_cdk.assertions import Template

ROOT = Path(__file__).resolve().parents[2]


def test_an_unpublished_registration_event_raises_an_alarm(template: Template) -> None:
    alarmed = {
        alarm["Properties"].get("MetricName") for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    documented = "RegistrationEventsNotPublished" in (ROOT / "docs" / "operations.md").read_text()
    assert "RegistrationEventsNotPublished" in alarmed
    assert documented
