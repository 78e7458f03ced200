"""Cold start: import time of each Lambda handler module, as a ratio to a bare ``import boto3`` measured in the
same run, each in a fresh isolated interpreter holding only the deployed code asset and the pinned layer (built
for this host: build/layer-host); plus the size of what is deployed.

Targets: the registration handler's (the buyer waits on it) <= 1.5 x ``import boto3``; every handler within 0.25 of
its library floor (the same libraries, set up as ours, no code of ours), measured in the same rounds.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from stacks.runtime_environment import RUNTIME_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
HOST_LAYER = ROOT / "build" / "layer-host" / "python"
DEPLOYED_LAYER = ROOT / "build" / "layer"
HANDLERS = [
    "functions.handlers.registration",
    "functions.handlers.usage",
    "functions.handlers.flush",
    "functions.handlers.lifecycle",
]
REPEATS = 15
BUYER_FACING = "functions.handlers.registration"  # the buyer waits for its first page
TARGET_RATIO = 1.5

# Each handler's library floor, measured in the same rounds: the libraries it needs, set up as ours are, and no code of
# ours. A handler's own cost is its distance from its floor.
_OBSERVABILITY = """
import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="floor")
tracer = Tracer(service="floor", patch_modules=("botocore",))
metrics = Metrics(namespace="Floor", service="floor")
"""
_API = """
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

app = APIGatewayRestResolver()
"""
_PYDANTIC = """
import pydantic


class One(pydantic.BaseModel):
    value: int
"""
_IDEMPOTENCY = """
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
"""
FLOORS = {
    "functions.handlers.registration": _OBSERVABILITY
    + _API
    + _IDEMPOTENCY
    + "from aws_lambda_powertools.utilities import parameters\n",
    "functions.handlers.usage": _OBSERVABILITY + _API + _PYDANTIC,
    "functions.handlers.flush": _OBSERVABILITY,
    # the batch utility before pydantic, as the handler imports them: imported after it, the batch utility also
    # imports Powertools' parser models (it does whenever pydantic is loaded), which the handler never loads
    "functions.handlers.lifecycle": _OBSERVABILITY
    + "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response\n"
    + _PYDANTIC
    + _IDEMPOTENCY,
}
TARGET_ABOVE_FLOOR = 0.25


def _floor_module(handler: str) -> str:
    return "_floor_" + handler.rpartition(".")[2]


_PROBE = """
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
start = time.perf_counter()
__import__(sys.argv[3])
print(time.perf_counter() - start)
"""


def _lambda_environment(code_dir: Path, module: str) -> dict[str, str]:
    """What the Lambda runtime sets and libraries look at on import (the X-Ray SDK picks its Lambda mode by it)."""
    return {
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": f"{module}.handler",
        **RUNTIME_ENVIRONMENT,
        # never let botocore look for credentials beyond loopback
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "AKIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }


def _import_seconds(module: str, code_dir: Path) -> float:
    output = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, str(code_dir), str(HOST_LAYER), module],
        capture_output=True,
        text=True,
        check=True,
        env=_lambda_environment(code_dir, module),
    ).stdout
    return float(output)


def _paired_rounds(modules: list[str], code_dir: Path) -> dict[str, list[float]]:
    """Each round imports the reference and every module once, back to back, so a slow moment of a shared machine
    weighs on a module and its reference alike; ratios are taken within a round."""
    samples: dict[str, list[float]] = {module: [] for module in ["boto3", *modules]}
    for _ in range(REPEATS):
        for module in samples:
            samples[module].append(_import_seconds(module, code_dir))
    return samples


def _median_and_ratio(samples: dict[str, list[float]], module: str) -> tuple[float, float]:
    """The module's median import time, and the median of its per-round ratios to ``import boto3``."""
    ratios = (m / b for m, b in zip(samples[module], samples["boto3"], strict=True))
    return statistics.median(samples[module]), statistics.median(ratios)


def _zipped_size(folder: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "asset.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    zipped.write(path, path.relative_to(folder))
        return archive.stat().st_size


def run() -> dict[str, Any]:
    if not HOST_LAYER.is_dir():
        raise SystemExit("build/layer-host is missing: run `make layer`")
    with tempfile.TemporaryDirectory() as scratch:
        code_dir = Path(scratch)
        shutil.copytree(ROOT / "functions", code_dir / "functions", ignore=shutil.ignore_patterns("__pycache__"))
        handlers = [m for m in HANDLERS if (code_dir / (m.replace(".", "/") + ".py")).exists()]
        asset_kib = round(_zipped_size(code_dir) / 1024, 1)
        floors = {_floor_module(h): FLOORS[h] for h in handlers}
        for floor, source in floors.items():
            (code_dir / f"{floor}.py").write_text(source)
        # warm the OS file cache (and write the code's bytecode) once so the first round is not penalised
        for module in ["boto3", *handlers, *floors]:
            _import_seconds(module, code_dir)
        samples = _paired_rounds([*handlers, *floors], code_dir)
        reference = statistics.median(samples["boto3"])
        results: dict[str, Any] = {"import boto3 (reference) ms": round(reference * 1000, 1), "handlers": {}}
        print(f"cold start: {REPEATS} rounds of fresh interpreters; reference `import boto3` {reference * 1000:.1f} ms")
        for module in handlers:
            seconds, ratio = _median_and_ratio(samples, module)
            floor_seconds, floor_ratio = _median_and_ratio(samples, _floor_module(module))
            above = ratio - floor_ratio
            verdicts = [
                f"{above:+.2f} from its floor ({'ok' if above <= TARGET_ABOVE_FLOOR else 'OVER'} <= "
                f"{TARGET_ABOVE_FLOOR})"
            ]
            if module == BUYER_FACING:
                verdicts.append(f"{'ok' if ratio <= TARGET_RATIO else 'OVER'} <= {TARGET_RATIO}")
            print(
                f"  {module:34s} {seconds * 1000:6.1f} ms  ratio {ratio:.2f}; its libraries alone "
                f"{floor_seconds * 1000:6.1f} ms, ratio {floor_ratio:.2f}; " + "; ".join(verdicts)
            )
            results["handlers"][module] = {
                "ms": round(seconds * 1000, 1),
                "ratio_to_boto3": round(ratio, 2),
                "floor_ms": round(floor_seconds * 1000, 1),
                "floor_ratio_to_boto3": round(floor_ratio, 2),
                "above_floor": round(above, 2),
            }
        results["code asset zipped KiB"] = asset_kib
    if DEPLOYED_LAYER.is_dir():
        results["layer zipped MiB"] = round(_zipped_size(DEPLOYED_LAYER) / 2**20, 1)
    layer = results.get("layer zipped MiB")
    print(f"  code asset {results['code asset zipped KiB']} KiB zipped; layer {layer} MiB zipped")
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
