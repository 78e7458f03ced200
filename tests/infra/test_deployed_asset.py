"""Each handler imports from the built asset alone, in a clean interpreter: the code asset (functions/
only) plus the pinned dependency layer, nothing from the development virtualenv."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from app import build_app
from stacks.constructs.lambda_code import ROOT
from tests.infra.conftest import cdk_json_context

# The deployed layer is built for arm64/python3.13; this host runs another CPU and Python, so the same
# pinned requirements are installed for the host into build/layer-host (make test does) to run them here.
HOST_LAYER = ROOT / "build" / "layer-host" / "python"


@pytest.fixture(scope="module")
def deployed_functions(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    outdir = tmp_path_factory.mktemp("asset-synth")
    app = cdk.App(context=cdk_json_context(), outdir=str(outdir))
    build_app(app)
    app.synth()
    template: dict[str, Any] = json.loads(next(outdir.glob("*.template.json")).read_text())
    found = []
    for resource in template["Resources"].values():
        handler = resource["Properties"].get("Handler", "") if resource["Type"] == "AWS::Lambda::Function" else ""
        if not handler.startswith("functions."):  # CDK's own helper functions carry their own code
            continue
        asset_hash = resource["Properties"]["Code"]["S3Key"].split(".")[0]
        found.append((handler, outdir / f"asset.{asset_hash}"))
    return found


def test_every_function_shares_the_one_code_asset_holding_only_our_code(
    deployed_functions: list[tuple[str, Path]],
) -> None:
    assert len(deployed_functions) >= 3, "registration, usage and flush at least"
    assets = {asset for _, asset in deployed_functions}
    assert len(assets) == 1
    (asset,) = assets
    assert sorted(p.name for p in asset.iterdir()) == ["functions"]
    assert not list(asset.rglob("__pycache__"))
    assert not (asset / "functions" / "requirements.txt").exists()


def test_each_handler_imports_with_only_what_is_deployed(deployed_functions: list[tuple[str, Path]]) -> None:
    for handler, asset in deployed_functions:
        module, _, attribute = handler.rpartition(".")
        # -I: isolated (no user site, no PYTHONPATH, no cwd); -S: not even the venv's site-packages
        probe = (
            "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import importlib; "
            f"m = importlib.import_module({module!r}); assert callable(getattr(m, {attribute!r}))"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", probe, str(asset), str(HOST_LAYER)],
            capture_output=True,
            text=True,
            check=False,
            env={"AWS_REGION": "us-east-1"},
        )
        assert result.returncode == 0, f"{handler}: {result.stderr}"
