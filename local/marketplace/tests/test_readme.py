"""The README's boto3 example runs as written (with this copy's package name: ``marketplace_emulator`` installed,
``local.marketplace`` in its repository), so the first thing an outsider tries cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from .helpers import PACKAGE

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readmes_boto3_example_runs() -> None:
    section = README.read_text().split("## Point your AWS client at it", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None
    code = example.group(1)
    assert "boto3.client(" in code
    assert "assert " in code  # the example checks what it shows
    exec(compile(code.replace("marketplace_emulator", PACKAGE), str(README), "exec"), {})  # noqa: S102
