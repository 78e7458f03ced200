"""docs/go-live.md cannot drift from the code: every command on the page runs here, in the page's order, against
`make run`'s stack metering as the page has deployed it at that point (a dry-run stack, then a live one, then the
dry-run one again for the roll back). The operator CLI's commands run as written, less the AWS target options
(`--stack`, `--profile`, `--region`, `--stage`), with `--json` to read them; `make` targets are expanded with `make -n`
(they need AWS to run); each cdk.json snippet is validated as synth validates cdk.json. Between them the test buyer
does what the page tells them to: subscribe, register, use the product, and let the hour close."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.marketplace.admin import AdminClient
from operations.cli import main as cli
from stacks.config import load_config
from tests.e2e.local_stack import launched
from tests.e2e.test_buyer_life import PRODUCT, RunningStack
from tests.e2e.test_doctor_make_run import register

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "go-live.md"
TEST_BUYER = "444455556666"
AWS_TARGET_OPTIONS = ("--stack", "--profile", "--region", "--stage")
_BLOCK = re.compile(r"^\s*```(bash|json)\n(.*?)^\s*```", re.M | re.S)


def page_steps() -> Iterator[tuple[str, str]]:
    """("json", snippet) and ("bash", command) in the page's order; a command's trailing comment dropped."""
    for kind, body in _BLOCK.findall(PAGE.read_text()):
        if kind == "json":
            yield kind, body
            continue
        for line in body.splitlines():
            command = line.split("  #")[0].strip()
            if command:
                yield kind, command


def local_argv(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "operations.cli"], command
    argv, rest = [], words[3:]
    while rest:
        word = rest.pop(0)
        if word in AWS_TARGET_OPTIONS:
            rest.pop(0)  # its value
        else:
            argv.append(word)
    return argv


def operator(running: RunningStack, argv: list[str]) -> Any:
    out, err = io.StringIO(), io.StringIO()
    status = cli([*argv, "--json", "--run-file", str(running.run_file)], out=out, err=err, environ={})
    assert status == 0, (argv, out.getvalue(), err.getvalue())
    return json.loads(out.getvalue())


def buyer_uses_the_product(running: RunningStack) -> None:
    """What the page has the test buyer do: subscribe and register (once per stack), send usage, and the hour closes
    (the flush having run once, as its schedule would have)."""
    running.post("/_local/flush", {})
    if not any(c["account"] == TEST_BUYER for c in running.cli("customers")):
        register(running, TEST_BUYER)
    [customer] = [c for c in running.cli("customers") if c["account"] == TEST_BUYER]
    event = {
        "event_id": f"go-live-{datetime.now(UTC).timestamp()}",
        "product_code": PRODUCT,
        "license_arn": customer["customer"],
        "customer_aws_account_id": TEST_BUYER,
        "dimension": "api_calls",
        "quantity": 2,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    running.post("/usage", {"events": [event]}, {"x-api-key": running.api_key})
    running.post("/_local/clock", {"advance_seconds": 65 * 60})


def check(running: RunningStack, mode: str, argv: list[str], answer: Any) -> None:
    """What the page says each command shows."""
    command = argv[0]
    if command == "doctor":
        assert answer["ready"] is True, answer
        assert argv[argv.index("--expect") + 1] == mode
    elif command == "customers":
        assert [c["state"] for c in answer if c["account"] == TEST_BUYER] == ["active"]
    elif command == "usage":
        statuses = {row["status"] for row in answer}
        assert statuses == ({"dry_run"} if mode == "dry-run" else {"sent"}), answer
        ledger = AdminClient(running.marketplace_url).ledger()
        sent = {row["metering_record_id"] for row in answer if row["metering_record_id"]}
        assert {r["metering_record_id"] for r in ledger if r["customer_aws_account_id"] == TEST_BUYER} == sent
    elif command == "reconcile":
        assert answer["mismatches"] == 0, answer
    elif command == "flush":
        assert answer["skipped"] is False


def test_every_command_of_the_go_live_page_runs_as_written(tmp_path: Path) -> None:
    steps = list(page_steps())
    assert [kind for kind, _ in steps].count("json") == 3  # dry-run, live, dry-run again
    marketplace_config = json.loads((ROOT / "cdk.json").read_text())["context"]["marketplace"]
    configured = deployed = marketplace_config.get("metering_mode", "live")
    ran: list[str] = []
    with ExitStack() as stacks:
        running: dict[str, RunningStack] = {}
        for kind, text in steps:
            if kind == "json":
                snippet = json.loads(text)
                configured = load_config({**marketplace_config, **snippet}).settings.metering_mode
                assert configured == snippet["metering_mode"]
                continue
            words = shlex.split(text)
            if words[0] == "make":
                expanded = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True)
                assert expanded.returncode == 0, expanded.stderr
                assert re.search(r"cdk --no-notices (deploy|bootstrap)", expanded.stdout), expanded.stdout
                if "deploy" in words:
                    deployed = configured
                ran.append(text)
                continue
            if deployed not in running:
                run_file = tmp_path / f"{deployed}.json"
                started = stacks.enter_context(launched(run_file, "--flush-interval=0", f"--metering-mode={deployed}"))
                running[deployed] = RunningStack.of(started, run_file)
                buyer_uses_the_product(running[deployed])
            argv = local_argv(text)
            check(running[deployed], deployed, argv, operator(running[deployed], argv))
            ran.append(text)
    assert ran == [text for kind, text in steps if kind == "bash"]
    assert set(running) == {"dry-run", "live"}
