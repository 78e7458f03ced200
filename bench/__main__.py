"""``python -m bench [name ...]``: run every benchmark module of this package (or the named ones), one after another,
and write their combined figures to bench/results.json. A module is a benchmark if it exposes ``run() -> dict``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def benchmark_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main(names: list[str]) -> int:
    chosen = names or benchmark_names()
    unknown = sorted(set(chosen) - set(benchmark_names()))
    if unknown:
        print(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(benchmark_names())})", file=sys.stderr)
        return 2
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if names and RESULTS.exists() else {}
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        if not callable(getattr(module, "run", None)):
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        results[name] = module.run()
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
