"""The one code asset (our ``functions/`` package only) and the pinned dependency layer, built without Docker."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = ROOT / "build" / "layer"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64

# Asset root is the project so handlers are imported as "functions.handlers.x", exactly as the tests do;
# everything but functions/ is excluded.
_CODE_EXCLUDES = ["*", "!functions", "!functions/**", "**/__pycache__", "**/*.pyc", "functions/requirements.txt"]


class LayerNotBuiltError(RuntimeError):
    pass


def function_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(ROOT), exclude=_CODE_EXCLUDES)


def dependencies_layer(scope: Construct) -> lambda_.LayerVersion:
    if not (LAYER_DIR / "python").is_dir():
        raise LayerNotBuiltError(
            f"{LAYER_DIR}/python is missing: run `make layer` once (pip installs functions/requirements.txt "
            "for arm64/python3.13 there; synth itself then needs no network and no Docker)"
        )
    return lambda_.LayerVersion(
        scope,
        "Dependencies",
        code=lambda_.Code.from_asset(str(LAYER_DIR)),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Pinned runtime dependencies from functions/requirements.txt",
    )
