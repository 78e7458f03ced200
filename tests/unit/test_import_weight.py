"""A handler imports only the libraries it uses: every module more is paid on each cold start (bench/cold_start.py
measures how much). pydantic alone is about a third of ``import boto3``; the flush and registration need none."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _printed(probe: str, module: str) -> str:
    """What ``probe`` prints about importing ``module`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", probe, module],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_REGION": "us-east-1", "PYTHONPATH": str(ROOT)},
    ).stdout


_PROBE = r"""
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({m.partition(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("handler", ["functions.handlers.flush", "functions.handlers.registration"])
def test_the_handler_does_not_import_pydantic(handler: str) -> None:
    loaded = _printed(_PROBE, handler)
    top_level = set(json.loads(loaded))
    assert "functions" in top_level  # the probe really imported it
    assert "pydantic" not in top_level


@pytest.mark.parametrize(
    "handler", [f"functions.handlers.{name}" for name in ("registration", "usage", "flush", "lifecycle")]
)
def test_the_handler_does_not_import_the_x_ray_sdk(handler: str) -> None:
    # out of support from February 2027, and a tenth of each cold start: Lambda's active tracing needs none of it
    # (functions/observability.py)
    top_level = set(json.loads(_printed(_PROBE, handler)))
    assert "functions" in top_level
    assert not {"aws_xray_sdk", "wrapt"} & top_level


_FULL = r"""
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def test_registration_does_not_import_powertools_event_handler() -> None:
    # the package imports every resolver it has (AppSync and asyncio among them): about 30 ms of the cold start the
    # buyer waits on, for routes the handler's ROUTES table dispatches itself (README, cold start)
    loaded = set(json.loads(_printed(_FULL, "functions.handlers.registration")))
    assert "functions.handlers.registration" in loaded
    assert not {m for m in loaded if m.startswith("aws_lambda_powertools.event_handler")}
    assert "asyncio" not in loaded


@pytest.mark.parametrize("module", ["local.stack", "local.region"])
def test_the_local_stack_runs_no_cdk(module: str) -> None:
    # the CDK's jsii runtime keeps a Node.js process and threads of its own: make run reads the synthesized templates
    # (synthesized apart, in `python app.py`) and needs none of it
    loaded = _printed(_PROBE, module)
    top_level = set(json.loads(loaded))
    assert "local" in top_level
    assert not {"aws_cdk", "jsii"} & top_level


def test_the_local_stack_names_the_lifecycle_handler_as_the_stack_does() -> None:
    from local.stack import LIFECYCLE_HANDLER
    from stacks.constructs.lifecycle import HANDLER

    assert LIFECYCLE_HANDLER == HANDLER


_COLLECTIONS = r"""
import gc, importlib, json, sys
before = [g["collections"] for g in gc.get_stats()]
importlib.import_module(sys.argv[1])
after = [g["collections"] for g in gc.get_stats()]
print(json.dumps({"during": [a - b for a, b in zip(after, before)], "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""
HANDLERS = sorted(
    f"functions.handlers.{path.stem}"
    for path in (ROOT / "functions" / "handlers").glob("*.py")
    if path.stem != "__init__"
)


@pytest.mark.parametrize("handler", HANDLERS)
def test_no_collection_runs_while_a_handler_is_imported_and_collection_goes_on_after_it(handler: str) -> None:
    # each full collection an import triggers walks every object imported so far (functions.handlers): none while a
    # handler is imported; after it, collection goes on and never walks what was imported
    found = json.loads(_printed(_COLLECTIONS, handler))
    assert found["during"] == [0, 0, 0]
    assert found["enabled"] is True
    assert found["frozen"] > 10_000  # boto3, Powertools and ours: tens of thousands of objects


def _undocumented_dataclasses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any("dataclass" in ast.unparse(decorator) for decorator in node.decorator_list)
        and ast.get_docstring(node) is None
    ]


def test_every_dataclass_of_the_lambda_code_says_what_it_is() -> None:
    # without a docstring, dataclasses builds one from inspect.signature on every cold start (about 0.15 ms a class)
    found = [name for path in sorted((ROOT / "functions").rglob("*.py")) for name in _undocumented_dataclasses(path)]
    assert found == []
