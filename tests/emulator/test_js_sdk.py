"""The emulator driven by an independent client: the AWS SDK for JavaScript v3 (``tests/js/``).

``node tests/js/marketplace_sdk_suite.mjs URL`` runs every operation of both services once succeeding and
once per error the SDK's model lists for it, each from an empty world, and prints one JSON line per case with
what it observed next to what it expected (for errors: the model's class, ``$fault`` and HTTP status, read
from the SDK's own schemas). The script runs once per module; each case is asserted here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.marketplace.errors import default_status
from local.marketplace.model_validation import operation_model, service_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "marketplace_sdk_suite.mjs"
# The whole run takes about a second; the limit only stops a hung run.
NODE_TIMEOUT_SECONDS = 60
# The JS client's default protocol per service, plus CBOR, which the entitlement model offers too.
PROTOCOLS = {"meteringmarketplace": ["awsJson1_1"], "marketplace-entitlement": ["awsJson1_1", "rpcv2Cbor"]}
SDK_SERVICES = {"metering": "meteringmarketplace", "entitlement": "marketplace-entitlement"}
# Errors the emulator has no real condition for, so the script queues them with PUT /admin/faults.
QUEUED_ONLY = {"InternalServiceErrorException"}


def _botocore_errors(service: str, operation: str) -> list[str]:
    return [shape.name for shape in operation_model(service, operation).error_shapes]


def _expected_case_ids() -> list[str]:
    """From botocore's model, independently of the script's own case table."""
    return [
        f"{operation}/{outcome}/{protocol}"
        for service, protocols in PROTOCOLS.items()
        for protocol in protocols
        for operation in service_model(service).operation_names
        for outcome in ["Success", *_botocore_errors(service, operation)]
    ]


@dataclass
class SuiteRun:
    cases: dict[str, dict[str, Any]]
    case_lines: int
    models: list[dict[str, Any]]
    done: dict[str, Any]


@pytest.fixture(scope="module")
def js_suite(marketplace_server: Any) -> SuiteRun:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH: the JS SDK suite needs Node.js >= 20 (see tests/js/package.json)"
    completed = subprocess.run(
        [node, str(SCRIPT), marketplace_server.url],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, f"the JS SDK suite failed (run `make test` to npm ci):\n{completed.stderr}"
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    case_lines = [line for line in lines if line["kind"] == "case"]
    (done,) = [line for line in lines if line["kind"] == "done"]
    return SuiteRun(
        cases={line["id"]: line for line in case_lines},
        case_lines=len(case_lines),
        models=[line for line in lines if line["kind"] == "model"],
        done=done,
    )


def test_the_script_ran_exactly_the_cases_the_model_calls_for(js_suite):
    expected = _expected_case_ids()
    assert sorted(js_suite.cases) == sorted(expected)
    assert js_suite.case_lines == js_suite.done["cases"] == len(expected)


@pytest.mark.parametrize("case_id", _expected_case_ids())
def test_case(js_suite, case_id):
    case = js_suite.cases.get(case_id)
    assert case is not None, f"the JS suite has no case {case_id}"
    assert "harness_error" not in case, case["harness_error"]
    assert case["checks"], "a case without checks proves nothing"
    mismatches = [check for check in case["checks"] if check["expected"] != check["actual"]]
    assert mismatches == [], f"{case_id} (message: {case.get('message')!r})"


def test_the_sdk_lists_the_same_operations_and_errors_as_botocore(js_suite):
    for sdk_service, service in SDK_SERVICES.items():
        models = {m["operation"]: m for m in js_suite.models if m["service"] == sdk_service}
        assert sorted(models) == sorted(service_model(service).operation_names)
        for operation, model in models.items():
            names = [error["name"] for error in model["errors"]]
            assert sorted(names) == sorted(_botocore_errors(service, operation)), operation
            # The typings' "(client fault)" and the schema's error trait are two renderings of one model.
            assert all(error["typingFault"] == error["fault"] for error in model["errors"]), operation


def test_the_emulator_answers_every_modelled_error_with_the_model_status(js_suite):
    statuses = {error["name"]: error["status"] for model in js_suite.models for error in model["errors"]}
    # The one httpError trait in these models; the rest follow Smithy's 400 (client) / 500 (server) default.
    assert statuses["IdempotencyConflictException"] == 409
    assert statuses["InternalServiceErrorException"] == 500
    assert {name: default_status(name) for name in statuses} == statuses


def test_only_errors_without_a_real_condition_are_queued(js_suite):
    queued = {case_id.split("/")[1] for case_id, case in js_suite.cases.items() if case["provoked"] == "queued"}
    assert queued == QUEUED_ONLY
    unexpected = [case_id for case_id, case in js_suite.cases.items() if case["provoked"] not in ("real", "queued")]
    assert unexpected == []
