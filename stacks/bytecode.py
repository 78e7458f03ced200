"""Bytecode for the Lambda runtime, shipped with the code asset and the layer.

Lambda's /var/task and /opt are read-only, so the runtime never keeps the bytecode it compiles: without bytecode of
its own Python version in the deployment, every cold start compiles every module it imports (about three times the
import time of the registration handler, measured by ``bench/cold_start.py``). pip on the build machine compiles for the
build machine's Python, which the runtime ignores. So both are compiled here by an interpreter of the runtime's
version, hash-based and unchecked: a zip does not keep the modification times a timestamp check compares, and a
deployed asset never changes under its bytecode (tests/infra/test_deployed_asset.py checks each file's hash).

``python -m stacks.bytecode FOLDER`` (``make layer``) drops the build machine's bytecode from FOLDER and compiles it
for the runtime; without such an interpreter it says so and leaves FOLDER without bytecode (slower cold starts).
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

RUNTIME_VERSION = (3, 13)  # the functions' runtime, python3.13 (stacks/constructs/lambda_code.py RUNTIME)
_NAME = f"python{RUNTIME_VERSION[0]}.{RUNTIME_VERSION[1]}"
MISSING = (
    f"no {_NAME} interpreter on this machine (PATH, or pyenv's versions): the deployment ships without bytecode, so "
    f"each cold start compiles every module it imports; install {_NAME} and build again"
)


@functools.cache
def runtime_python() -> str | None:
    """An interpreter of the runtime's Python version here: on PATH, else one of pyenv's (a shim may name a version
    pyenv does not select, so each candidate is asked its version)."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{RUNTIME_VERSION[0]}.{RUNTIME_VERSION[1]}.*/bin/{_NAME}")
    candidates = [shutil.which(_NAME), *sorted(glob.glob(pyenv), reverse=True)]
    for candidate in filter(None, candidates):
        version = subprocess.run(
            [candidate, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0 and tuple(map(int, version.stdout.split())) == RUNTIME_VERSION:
            return candidate
    return None


def drop_bytecode(folder: Path) -> None:
    for cache in sorted(folder.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)


def compile_for_runtime(folder: Path) -> bool:
    """Replace ``folder``'s bytecode with the runtime's; False (and none left) without a runtime interpreter."""
    drop_bytecode(folder)
    interpreter = runtime_python()
    if interpreter is None:
        return False
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)],
        check=True,
    )
    return True


if __name__ == "__main__":
    if not compile_for_runtime(Path(sys.argv[1])):
        print(f"warning: {MISSING}", file=sys.stderr)
