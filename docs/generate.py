"""Documents generated from the code, so they cannot drift from it: ``make docs`` writes them, a test compares.

- ``docs/usage-batch.schema.json``: the JSON Schema of a ``POST /usage`` body, from the model that validates it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from functions.usage.schema import UsageBatchIn

DOCS = Path(__file__).resolve().parent
USAGE_SCHEMA = DOCS / "usage-batch.schema.json"


def usage_schema() -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "POST /usage request body",
        **UsageBatchIn.model_json_schema(mode="validation"),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    USAGE_SCHEMA.write_text(usage_schema())
    print(f"wrote {USAGE_SCHEMA.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
