"""cdk.json sets the feature flags `cdk init` sets for the pinned aws-cdk-lib, read from the library's own list, and
none of them moves or changes a resource that holds data: upgrading sellers keep their tables, queues and logs."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from app import build_app
from tests.infra.conftest import ROOT, cdk_json_context

# Resources whose replacement loses data or breaks what refers to them by name.
STATEFUL_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Topic",
    "AWS::Events::EventBus",
}
LEFT_OFF = "Flags left off deliberately"


def pinned_aws_cdk_lib() -> str:
    pins: list[str] = re.findall(r"^aws-cdk-lib==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pins) == 1, "requirements.txt pins aws-cdk-lib exactly once"
    return pins[0]


def recommended_flags() -> dict[str, Any]:
    """The flags and values `cdk init` writes for this aws-cdk-lib: the library ships them in its jsii assembly."""
    assembly = Path(cdk.__file__).parent / "_jsii" / f"aws-cdk-lib@{pinned_aws_cdk_lib()}.jsii.tgz"
    assert assembly.exists(), f"the installed aws-cdk-lib is not the pinned one ({assembly.name} missing)"
    with tarfile.open(assembly) as archive:
        listed = archive.extractfile("package/recommended-feature-flags.json")
        assert listed is not None
        flags: dict[str, Any] = json.load(listed)
    return flags


def flags_left_off() -> dict[str, str]:
    """README's "CDK feature flags" section: the list after "Flags left off deliberately", flag -> its line."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### CDK feature flags", 1)[1].split("\n#", 1)[0]
    after_heading = section.split(LEFT_OFF, 1)[1].split("\n", 1)[1]
    listed = after_heading.lstrip("\n").split("\n\n", 1)[0]
    items = [line for line in listed.splitlines() if line.startswith("- ")]
    assert items, f"README lists the flags left off (or '- none') after '{LEFT_OFF}'"
    return {flag: line for line in items for flag in re.findall(r"`(@aws-cdk[^`]*)`", line)}


def test_cdk_json_sets_every_flag_cdk_init_recommends_for_the_pinned_aws_cdk_lib() -> None:
    recommended, context, left_off = recommended_flags(), cdk_json_context(), flags_left_off()
    assert recommended
    assert all(flag.startswith("@aws-cdk") for flag in recommended)
    unset = sorted(f for f, value in recommended.items() if f not in left_off and context.get(f, "<unset>") != value)
    assert not unset, (
        "set these in cdk.json as `cdk init` would (or leave one off in README's 'CDK feature flags', with why): "
        + ", ".join(f"{flag}={json.dumps(recommended[flag])}" for flag in unset)
    )
    for flag, why in left_off.items():
        assert flag in recommended, f"{flag} is not a flag this aws-cdk-lib recommends"
        assert flag in context, f"{flag} is left off, so cdk.json sets it explicitly to the old value"
        assert context[flag] != recommended[flag], f"{flag} is documented as left off but cdk.json turns it on"
        assert len(why) > len(flag) + 20, f"README gives no reason for leaving {flag} off"
    unknown = sorted(key for key in context if key.startswith("@aws-cdk") and key not in recommended)
    assert not unknown, f"cdk.json sets flags this aws-cdk-lib does not recommend (renamed or retired?): {unknown}"


def _stateful_resources(context: dict[str, Any], outdir: Path) -> dict[str, dict[str, Any]]:
    app = cdk.App(context=context, outdir=str(outdir))
    build_app(app)
    found: dict[str, dict[str, Any]] = {}
    for stack in app.synth().stacks:
        for logical_id, resource in stack.template["Resources"].items():
            if resource["Type"] in STATEFUL_TYPES or resource.get("DeletionPolicy", "Delete") != "Delete":
                found[f"{stack.stack_name}/{logical_id}"] = resource
    return found


def test_the_flags_move_or_change_no_resource_that_holds_data(tmp_path: Path) -> None:
    # Given every optional part of the stack (alarm e-mail, WAF, SnapStart, a Region with its forwarder stack)
    context = cdk_json_context()
    context["marketplace"] = {
        **context["marketplace"],
        "notification_email": "ops@example.com",
        "waf": True,
        "snap_start": ["registration", "usage", "flush", "lifecycle"],
        "region": "eu-west-1",
    }
    library_defaults = {key: value for key, value in context.items() if not key.startswith("@aws-cdk")}
    # When synthesized with cdk.json's flags and with none at all (what the library does by default)
    flagged = _stateful_resources(context, tmp_path / "flagged")
    unflagged = _stateful_resources(library_defaults, tmp_path / "unflagged")
    # Then every table, queue, log group, secret, topic and bus has the same logical id and the same definition
    assert len(flagged) >= 10
    assert sorted(flagged) == sorted(unflagged)
    changed = sorted(name for name in flagged if flagged[name] != unflagged[name])
    assert not changed, f"feature flags change resources that hold data (leave the flag off, README): {changed}"
