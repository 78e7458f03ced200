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
from stacks.bytecode import runtime_python
from stacks.constructs.lambda_code import ROOT
from stacks.runtime_environment import RUNTIME_ENVIRONMENT
from tests.infra.conftest import cdk_json_context

# Whatever a probe does, botocore must never look for credentials or a Region beyond loopback.
OFFLINE = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIAPROBE", "AWS_SECRET_ACCESS_KEY": "probe"}

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
    assert not (asset / "functions" / "requirements.txt").exists()
    assert _runtime_bytecode_of_every_module(asset)


def test_the_layer_ships_the_runtimes_bytecode_and_no_other() -> None:
    assert _runtime_bytecode_of_every_module(ROOT / "build" / "layer" / "python")


# Run by the runtime's interpreter over a deployed folder: every module's bytecode is its version's, hash-based and
# unchecked, of that very source (an unchecked file that did not match would run code that is not deployed); no other
# file in any __pycache__
_BYTECODE_PROBE = """
import importlib.util, pathlib, sys
root, wrong = pathlib.Path(sys.argv[1]), []
for source in root.rglob("*.py"):
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    data = cached.read_bytes() if cached.exists() else b""
    header_ok = data[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(data[4:8], "little") == 0b01
    if not header_ok or data[8:16] != importlib.util.source_hash(source.read_bytes()):
        wrong.append(str(source.relative_to(root)))
cached = {str(p) for p in root.rglob("__pycache__/*")}
expected = {importlib.util.cache_from_source(str(s)) for s in root.rglob("*.py")}
wrong += sorted(cached - expected)
print(len(expected), *wrong[:20])
"""


def _runtime_bytecode_of_every_module(folder: Path) -> bool:
    """The runtime's bytecode for every module in ``folder`` and nothing else in its caches; without an interpreter of
    the runtime's version on this machine (the build then warns), no bytecode at all."""
    interpreter = runtime_python()
    if interpreter is None:
        return not list(folder.rglob("__pycache__"))
    output = subprocess.run(
        [interpreter, "-I", "-S", "-B", "-c", _BYTECODE_PROBE, str(folder)], capture_output=True, text=True, check=True
    ).stdout.split()
    modules, wrong = int(output[0]), output[1:]
    assert modules > 0, folder
    assert wrong == [], wrong
    return True


def test_each_handler_imports_with_only_what_is_deployed(deployed_functions: list[tuple[str, Path]]) -> None:
    for handler, asset in deployed_functions:
        module, _, attribute = handler.rpartition(".")
        # -I: isolated (no user site, no PYTHONPATH, no cwd); -S: not even the venv's site-packages
        probe = (
            "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import importlib; "
            f"m = importlib.import_module({module!r}); assert callable(getattr(m, {attribute!r}))"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", probe, str(asset), str(HOST_LAYER)],
            capture_output=True,
            text=True,
            check=False,
            env={**OFFLINE, "AWS_REGION": "us-east-1"},
        )
        assert result.returncode == 0, f"{handler}: {result.stderr}"


_SIDE_EFFECT_PROBE = r"""
import gc, json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
seen = []
CODE = (".py", ".pyc", ".so", ".pth", ".typed")
# urllib3's IPv6 probe (bind to ::1 port 0) is no request: nothing leaves the process.
REQUESTS = ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg", "http.client.connect")

def hook(event, args):
    if event in REQUESTS or event == "urllib.Request":
        seen.append([event, repr(args)[:200]])
    elif event == "open" and isinstance(args[0], str):
        path = args[0]
        if not path.endswith((*CODE, ".zip")):
            seen.append([event, path])

sys.addaudithook(hook)
import importlib
importlib.import_module(sys.argv[3])
import botocore.client
gc.unfreeze()  # what the import froze (functions.handlers) back in view of gc.get_objects()
clients = [o for o in gc.get_objects() if isinstance(o, botocore.client.BaseClient)]
print(json.dumps({"side_effects": seen, "clients": len(clients)}))
"""


def test_importing_a_handler_opens_no_connection_file_or_client(deployed_functions: list[tuple[str, Path]]) -> None:
    for handler, asset in deployed_functions:
        module = handler.rpartition(".")[0]
        # Given the Lambda runtime's environment, When the handler module is imported
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", _SIDE_EFFECT_PROBE, str(asset), str(HOST_LAYER), module],
            capture_output=True,
            text=True,
            check=True,
            env={
                **RUNTIME_ENVIRONMENT,
                **OFFLINE,
                "AWS_REGION": "us-east-1",
                "AWS_LAMBDA_FUNCTION_NAME": "probe",
                "LAMBDA_TASK_ROOT": str(asset),
                "_HANDLER": handler,
            },
        )
        report = json.loads(result.stdout)
        # Then nothing but code was read, no request was made and no AWS client exists yet
        assert report == {"side_effects": [], "clients": 0}, handler


_LOADED_PROBE = r"""
import importlib, json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
for module in sys.argv[3:]:
    importlib.import_module(module)
print(json.dumps(sorted(m for m in sys.modules if m == "functions" or m.startswith("functions."))))
"""


def test_what_ships_to_lambda_is_what_runs_there(deployed_functions: list[tuple[str, Path]]) -> None:
    # Given the one code asset, When every deployed handler is imported from it
    (asset,) = {asset for _, asset in deployed_functions}
    handlers = sorted({handler.rpartition(".")[0] for handler, _ in deployed_functions})
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", _LOADED_PROBE, str(asset), str(HOST_LAYER), *handlers],
        capture_output=True,
        text=True,
        check=True,
        env={**OFFLINE, "AWS_REGION": "us-east-1"},
    )
    loaded = set(json.loads(result.stdout))
    # Then every module in the asset is one a handler runs (operator tools, the CLI, stay out)
    shipped = {
        ".".join(path.relative_to(asset).with_suffix("").parts).removesuffix(".__init__")
        for path in asset.rglob("*.py")
    }
    assert shipped == loaded
