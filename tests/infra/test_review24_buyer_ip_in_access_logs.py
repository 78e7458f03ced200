"""Review 24: every request to the fulfillment URL (the buyer's browser on /register, /register/complete) is written
to the API's access log with the buyer's IP address (``ip=True``: ``$context.identity.sourceIp``) and the time, which
ties it to the registration stored at that moment: personal data (an IP address is, under the GDPR) in a log, kept
for the log group's retention (RETAIN on stack deletion). docs/operations.md's erasure section lists where a buyer's
data goes (Contacts, events, logs: "No log line of ours carries the form's values or the tenant id", backups) and
says nothing of the access log, so ``forget-customer`` leaves it and the operator is not told. Either the fulfillment
routes log no source IP (or a truncated one), or the erasure section names the access log and its retention."""

from __future__ import annotations

from pathlib import Path

from aws_cdk.assertions import Template

ROOT = Path(__file__).resolve().parents[2]


def test_the_buyers_ip_address_is_not_logged_or_its_erasure_is_documented(template: Template) -> None:
    (stage,) = template.find_resources("AWS::ApiGateway::Stage").values()
    access_log_format = stage["Properties"]["AccessLogSetting"]["Format"]
    operations = (ROOT / "docs" / "operations.md").read_text()
    erasure = operations.split("## Buyers' personal data", 1)[1].split("\n## ", 1)[0]
    logs_source_ip = "$context.identity.sourceIp" in access_log_format
    documented = "access log" in erasure.lower()
    assert not logs_source_ip or documented, (
        "the access log keeps each buyer's IP address, and the erasure section does not mention it"
    )
