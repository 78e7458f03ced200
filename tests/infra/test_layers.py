"""The written layers (docs/architecture.md) are enforced: import-linter's contracts in pyproject.toml, run by
`make lint`, pass on the code, and fail on each crossing they exist to stop."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_code_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("module", "crossing", "named"),
    [
        # reading a customer must not depend on the lifecycle's handling of notifications
        ("functions/customers/repository.py", "import functions.lifecycle.service", None),
        # the seller events are shared: one capability does not reach into another for them
        ("functions/lifecycle/service.py", "import functions.registration.service", None),
        # the final usage goes through the flush's public API, handed in by the composition root
        ("functions/lifecycle/final_usage.py", "import functions.flush.sender", None),
        # a capability's rules know nothing of boto3
        ("functions/usage/ingest.py", "import botocore.exceptions", None),
        # the Lambda asset holds no operator tools
        ("functions/flush/service.py", "import operations.cli", None),
        # the producer client stands alone: its limits are generated, not imported from the Lambda code
        ("usage_client/client.py", "import functions.usage.schema", None),
        # no circles: the local stack starts the Regions' stacks, which build on what both share (local.controls)
        ("local/region.py", "import local.stack", "No cycles are allowed in local. It could"),
        # the emulator's parts take the shared state; the facade over them is above them all
        (
            "local/marketplace/queries.py",
            "import local.marketplace.service",
            "No cycles are allowed in local.marketplace.",
        ),
        # the emulator is a package of its own: nothing of the repository, not even its neighbours in local/
        ("local/marketplace/clock.py", "import local.controls", "local.marketplace.clock -> local.controls"),
        ("local/marketplace/server.py", "import functions.settings", "local.marketplace.server -> functions.settings"),
        # a private name stays in its module
        ("operations/cli.py", "from operations.target import _one", "operations.cli uses operations.target._one"),
    ],
)
def test_each_crossing_breaks_a_contract(tmp_path: Path, module: str, crossing: str, named: str | None) -> None:
    # Given a copy of the code with one import that crosses the written layers
    for part in (
        "functions",
        "operations",
        "local",
        "stacks",
        "bench",
        "tests",
        "docs",
        "usage_client",
        "sim",
        "tools",
    ):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    source = target.read_text()
    target.write_text(re.sub(r"^from __future__ import annotations\n", f"\\g<0>\n{crossing}\n", source, flags=re.M))
    # Then make lint's import check fails, naming the module
    result = lint(tmp_path)
    assert result.returncode != 0
    assert (named or module.removesuffix(".py").replace("/", ".")) in " ".join(result.stdout.split())


def test_only_handlers_know_api_gateways_and_lambdas_event_types() -> None:
    # (import-linter cannot name an external package's subpackage; these are Powertools' event models)
    event_types = re.compile(r"aws_lambda_powertools\.(event_handler|utilities\.data_classes)")
    for path in (ROOT / "functions").rglob("*.py"):
        if path.parent.name != "handlers":
            assert not event_types.search(path.read_text()), path
