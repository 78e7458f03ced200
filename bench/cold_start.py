"""Cold start: import time of each Lambda handler module, as a ratio to a bare ``import boto3`` measured in the
same run, each in a fresh isolated interpreter holding only the deployed code asset and the pinned layer; plus the
size of what is deployed.

The rounds import as Lambda does: with an interpreter of the runtime's version (stacks/bytecode.py), the runtime's
bytecode as deployed, the pinned requirements installed for that version (build/layer-runtime, from PyPI on first
use), and nothing written (Lambda's folders are read-only). Without such an interpreter they fall back to this host's
Python and build/layer-host, letting each interpreter keep the bytecode it compiles, and say so: another version's
imports cost differently (Python 3.13 builds a dataclass's methods in one compile, 3.11 in several).

Targets: the registration handler's (the buyer waits on it) <= 1.5 x ``import boto3``; every handler within 0.25 of
its library floor (the same libraries, set up as ours, no code of ours), measured in the same rounds: the handler
imported in a process that has just imported its floor, so what is timed is our code alone (imported apart, the two
differ also by where in the stack each one's libraries ran: below). A handler
module pauses garbage collection while it is imported (functions.handlers); each floor does the same, and so does a
second reference, ``import boto3`` paused alike: the registration line is judged against the stricter of the two
(the pause speeds boto3's own import up too).

A second part, with the runtime's interpreter, imports each handler and boto3 writing nothing: once from sources
alone (what the deployment shipped before it carried bytecode: every cold start compiles) and once with the
runtime's bytecode as now deployed, paired per round; it prints both and their ratio.

Each round imports from a different depth of the Python stack, the rounds spread over one of the interpreter's
data-stack chunks. On the Python 3.13 here (3.13.0), a call that crosses a chunk's end allocates and frees the next
chunk every time (CPython gh-142183, fixed on the 3.13 branch by gh-146123, 2026-03-18): call-heavy code running at
that depth is 2 to 13 times slower (regular expressions compiled at import, boto3's among them). At one fixed depth,
each module paid whatever its own import chain's depth happened to hit: registration's chain put urllib3's regular
expressions on a chunk's end. Its code, imported after its floor in one process, cost +0.18, but the two imported
apart +0.27, and importing boto3 from the handler's first line (a shallower chain) took 11 to 13 ms off it. Lambda's
runtime imports a handler from a depth of its own, so no one depth is the true one; the median over the spread is a
typical one, and an interpreter with the fix gives the same at every depth.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from stacks.bytecode import compile_for_runtime, drop_bytecode, runtime_python
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
RUNTIME_LAYER = ROOT / "build" / "layer-runtime" / "python"  # the requirements for this host, at the runtime's version
BYTECODE_REPEATS = 5  # an import compiling everything takes seconds
BUYER_FACING = "functions.handlers.registration"  # the buyer waits for its first page
TARGET_RATIO = 1.5

# Each handler's library floor, measured in the same rounds: the libraries it needs, set up as ours are, and no code of
# ours. A handler's own cost is its distance from its floor.
_OBSERVABILITY = """
import boto3
from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="floor")
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
# the lifecycle's notification shapes: typed dicts whose validators are built on their first use, none at import
_PYDANTIC_SHAPES = """
from pydantic import ConfigDict, Field, HttpUrl, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict
"""
_IDEMPOTENCY = """
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
"""


def _as_a_handler(libraries: str) -> str:
    """``libraries`` imported as a handler module imports them: garbage collection paused until they are, what they
    imported then frozen (functions.handlers)."""
    return f"import gc\n\ngc.disable()\n{libraries}\ngc.freeze()\ngc.enable()\n"


# ``import boto3`` as a handler imports it: how much of a handler's gain is the pause's, shown beside the reference
PAUSED_BOTO3 = "_boto3_paused"
FLOORS = {
    # routed by hand (functions.handlers.registration): no event_handler
    "functions.handlers.registration": _OBSERVABILITY
    + _IDEMPOTENCY
    + "from aws_lambda_powertools.utilities import parameters\n",
    "functions.handlers.usage": _OBSERVABILITY + _API + _PYDANTIC,
    "functions.handlers.flush": _OBSERVABILITY,
    # the batch utility before pydantic, as the handler imports them: imported after it, the batch utility also
    # imports Powertools' parser models (it does whenever pydantic is loaded), which the handler never loads
    "functions.handlers.lifecycle": _OBSERVABILITY
    + "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response\n"
    + _PYDANTIC_SHAPES
    + _IDEMPOTENCY,
}
FLOORS = {handler: _as_a_handler(libraries) for handler, libraries in FLOORS.items()}
TARGET_ABOVE_FLOOR = 0.25


def _floor_module(handler: str) -> str:
    return "_floor_" + handler.rpartition(".")[2]


def _after_floor(handler: str) -> str:
    """The probe's name for ``handler`` imported in a process that has just imported its floor: our code's own cost."""
    return f"{_floor_module(handler)},{handler}"


# frames of the probe's own recursion in one data-stack chunk on Python 3.13.0 (measured: the slow depths recur every
# 145-146 frames); the rounds' starting depths spread over it
CHUNK_FRAMES = 146

_PROBE = """
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]


def imported_at(depth):
    if depth:
        return imported_at(depth - 1)
    *first, timed = sys.argv[3].split(",")  # "a,b": a imported, then b timed
    for module in first:
        __import__(module)
    start = time.perf_counter()
    __import__(timed)
    return time.perf_counter() - start


print(imported_at(int(sys.argv[4])))
"""


def _depth(round_index: int, rounds: int) -> int:
    """Round ``round_index``'s starting depth: the rounds spread evenly over one data-stack chunk."""
    return round_index * CHUNK_FRAMES // rounds


def _lambda_environment(code_dir: Path, module: str) -> dict[str, str]:
    """What the Lambda runtime sets and libraries look at on import."""
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


def _import_seconds(
    module: str,
    code_dir: Path,
    *,
    depth: int = 0,
    interpreter: str = sys.executable,
    layer: Path = HOST_LAYER,
    writes: bool = True,
) -> float:
    """One import of ``module`` in a fresh isolated interpreter, from ``depth`` frames down; ``writes=False``: as
    Lambda, no bytecode kept."""
    flags = ["-I", "-S"] if writes else ["-I", "-S", "-B"]
    output = subprocess.run(
        [interpreter, *flags, "-c", _PROBE, str(code_dir), str(layer), module, str(depth)],
        capture_output=True,
        text=True,
        check=True,
        env=_lambda_environment(code_dir, module),
    ).stdout
    return float(output)


def _paired_rounds(modules: list[str], importer: Callable[..., float]) -> dict[str, list[float]]:
    """Each round imports the reference and every module once, back to back and from the round's depth, so a slow
    moment of a shared machine, or a chunk's end, weighs on a module and its reference alike; ratios are taken within
    a round."""
    samples: dict[str, list[float]] = {module: [] for module in ["boto3", *modules]}
    for round_index in range(REPEATS):
        for module in samples:
            samples[module].append(importer(module, depth=_depth(round_index, REPEATS)))
    return samples


def _install_runtime_layer(interpreter: str) -> None:
    if not RUNTIME_LAYER.is_dir():
        subprocess.run(
            [
                interpreter,
                "-m",
                "pip",
                "install",
                "--quiet",
                "-r",
                str(ROOT / "functions" / "requirements.txt"),
                "-t",
                str(RUNTIME_LAYER),
            ],
            check=True,
        )


def _as_lambda_imports(handlers: list[str], interpreter: str) -> dict[str, Any]:
    """Each handler and boto3 imported as Lambda does (nothing written), from sources alone and with the runtime's
    bytecode, paired in each round."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        trees = {}
        for variant in ("sources", "bytecode"):
            tree = Path(scratch) / variant
            shutil.copytree(ROOT / "functions", tree / "functions", ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copytree(RUNTIME_LAYER, tree / "layer")
            for folder in (tree / "functions", tree / "layer"):
                if variant == "bytecode":
                    compile_for_runtime(folder)
                else:
                    drop_bytecode(folder)
            trees[variant] = tree
        print(f"  as Lambda imports (nothing written; {BYTECODE_REPEATS} rounds, {Path(interpreter).name}):")
        for module in ["boto3", *handlers]:
            samples: dict[str, list[float]] = {"sources": [], "bytecode": []}
            for round_index in range(BYTECODE_REPEATS):
                for variant, tree in trees.items():
                    samples[variant].append(
                        _import_seconds(
                            module,
                            tree,
                            depth=_depth(round_index, BYTECODE_REPEATS),
                            interpreter=interpreter,
                            layer=tree / "layer",
                            writes=False,
                        )
                    )
            sources, bytecode = (statistics.median(samples[v]) for v in ("sources", "bytecode"))
            ratio = statistics.median(b / s for b, s in zip(samples["bytecode"], samples["sources"], strict=True))
            print(
                f"    {module:34s} sources only {sources * 1000:7.1f} ms; with the runtime's bytecode "
                f"{bytecode * 1000:6.1f} ms ({ratio:.2f} of it)"
            )
            results[module] = {
                "sources_only_ms": round(sources * 1000, 1),
                "with_bytecode_ms": round(bytecode * 1000, 1),
                "ratio": round(ratio, 2),
            }
    return results


def _median_and_ratio(samples: dict[str, list[float]], module: str, reference: str = "boto3") -> tuple[float, float]:
    """The module's median import time, and the median of its per-round ratios to ``reference``'s."""
    ratios = (m / b for m, b in zip(samples[module], samples[reference], strict=True))
    return statistics.median(samples[module]), statistics.median(ratios)


def _zipped_size(folder: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "asset.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(folder.rglob("*")):
                if path.is_file():  # with the bytecode that ships
                    zipped.write(path, path.relative_to(folder))
        return archive.stat().st_size


def _importer(code_dir: Path, interpreter: str | None) -> tuple[Callable[..., float], str]:
    """How the rounds import a module from ``code_dir``, and its description: as Lambda does (the runtime's
    interpreter and bytecode, the layer installed for it, nothing written) where such an interpreter is here, else
    with this host's Python."""
    if interpreter is None:
        if not HOST_LAYER.is_dir():
            raise SystemExit("build/layer-host is missing: run `make layer`")
        version = ".".join(map(str, sys.version_info[:2]))
        return partial(_import_seconds, code_dir=code_dir), f"this host's Python {version} (not the runtime's)"
    _install_runtime_layer(interpreter)
    layer = code_dir.parent / "layer"
    shutil.copytree(RUNTIME_LAYER, layer)
    for folder in (code_dir, layer):
        compile_for_runtime(folder)
    importer = partial(_import_seconds, code_dir=code_dir, interpreter=interpreter, layer=layer, writes=False)
    return importer, f"as Lambda imports ({Path(interpreter).name}, its bytecode, nothing written)"


def run() -> dict[str, Any]:
    interpreter = runtime_python()
    with tempfile.TemporaryDirectory() as scratch:
        code_dir = Path(scratch) / "code"
        shutil.copytree(ROOT / "functions", code_dir / "functions", ignore=shutil.ignore_patterns("__pycache__"))
        handlers = [m for m in HANDLERS if (code_dir / (m.replace(".", "/") + ".py")).exists()]
        with tempfile.TemporaryDirectory() as deployed:  # the asset as it ships: sources and the runtime's bytecode
            shutil.copytree(code_dir / "functions", Path(deployed) / "functions")
            compile_for_runtime(Path(deployed) / "functions")
            asset_kib = round(_zipped_size(Path(deployed)) / 1024, 1)
        floors = {_floor_module(h): FLOORS[h] for h in handlers} | {PAUSED_BOTO3: _as_a_handler("import boto3")}
        for floor, source in floors.items():
            (code_dir / f"{floor}.py").write_text(source)
        importer, how = _importer(code_dir, interpreter)
        # warm the OS file cache (on this host's Python: write the code's bytecode) once so the first round is not
        # penalised
        for module in ["boto3", *handlers, *floors]:
            importer(module)
        samples = _paired_rounds([*handlers, *floors, *map(_after_floor, handlers)], importer)
        reference = statistics.median(samples["boto3"])
        results: dict[str, Any] = {
            "imported": how,
            "starting depths (frames)": f"0-{_depth(REPEATS - 1, REPEATS)}, {REPEATS} rounds",
            "import boto3 (reference) ms": round(reference * 1000, 1),
            "handlers": {},
        }
        paused_seconds, paused_ratio = _median_and_ratio(samples, PAUSED_BOTO3)
        results["import boto3 as a handler imports it (collection paused) ms"] = round(paused_seconds * 1000, 1)
        results["import boto3 as a handler imports it, ratio"] = round(paused_ratio, 2)
        print(
            f"cold start: {REPEATS} rounds of fresh interpreters, each from its own stack depth (0 to "
            f"{_depth(REPEATS - 1, REPEATS)} frames, over one data-stack chunk), {how}; reference `import boto3` "
            f"{reference * 1000:.1f} ms "
            f"(as a handler imports it, collection paused: {paused_seconds * 1000:.1f} ms, ratio {paused_ratio:.2f})"
        )
        for module in handlers:
            seconds, ratio = _median_and_ratio(samples, module)
            floor_seconds, floor_ratio = _median_and_ratio(samples, _floor_module(module))
            own_seconds, above = _median_and_ratio(samples, _after_floor(module))
            apart = ratio - floor_ratio
            verdicts = [
                f"its code after its libraries {own_seconds * 1000:.1f} ms, {above:+.2f} "
                f"({'ok' if above <= TARGET_ABOVE_FLOOR else 'OVER'} <= {TARGET_ABOVE_FLOOR}; imported apart "
                f"{apart:+.2f})"
            ]
            judged_alike: dict[str, float] = {}
            if module == BUYER_FACING:
                # judged by the stricter of the two references: the pause speeds boto3's import up too
                _, like_for_like = _median_and_ratio(samples, module, PAUSED_BOTO3)
                judged = max(ratio, like_for_like)
                verdicts.append(
                    f"{like_for_like:.2f} of boto3 imported as it is; {'ok' if judged <= TARGET_RATIO else 'OVER'} "
                    f"<= {TARGET_RATIO}"
                )
                judged_alike["ratio_to_boto3_imported_as_a_handler"] = round(like_for_like, 2)
            print(
                f"  {module:34s} {seconds * 1000:6.1f} ms  ratio {ratio:.2f}; its libraries alone "
                f"{floor_seconds * 1000:6.1f} ms, ratio {floor_ratio:.2f}; " + "; ".join(verdicts)
            )
            results["handlers"][module] = {
                **judged_alike,
                "ms": round(seconds * 1000, 1),
                "ratio_to_boto3": round(ratio, 2),
                "floor_ms": round(floor_seconds * 1000, 1),
                "floor_ratio_to_boto3": round(floor_ratio, 2),
                "own_code_ms": round(own_seconds * 1000, 1),
                "above_floor": round(above, 2),
                "above_floor_imported_apart": round(apart, 2),
            }
        results["code asset zipped KiB"] = asset_kib
        if interpreter is None:
            print("  as Lambda imports: no interpreter of the runtime's version here; not measured")
        else:
            results["as Lambda imports"] = _as_lambda_imports(handlers, interpreter)
    if DEPLOYED_LAYER.is_dir():
        results["layer zipped MiB"] = round(_zipped_size(DEPLOYED_LAYER) / 2**20, 1)
    layer = results.get("layer zipped MiB")
    print(f"  code asset {results['code asset zipped KiB']} KiB zipped; layer {layer} MiB zipped")
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
