"""`cli doctor`'s own input: each bad argument or run file answered in one line naming it, exit 2, no traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from operations.cli import main as cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stage", "Beta!"], "argument --stage: 'Beta!': stage: must be 1 to 16 lower-case letters and digits"),
        (["--expect", "sometimes"], "argument --expect: invalid choice: 'sometimes'"),
        (["--run-file", "{missing}"], "error: no local stack: start one with `make run` (it writes {missing})"),
        (["--local", "--stage", "beta"], "error: --local and a deployed stack (--stage, --stack, --profile, --region)"),
    ],
)
def test_a_bad_argument_is_one_line_naming_it(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "none.json")
    out, err = io.StringIO(), io.StringIO()
    assert cli(["doctor", *(a.format(missing=missing) for a in argv)], out=out, err=err, environ={}) == 2
    said = err.getvalue() + capsys.readouterr().err  # argparse writes its own errors to stderr
    assert message.format(missing=missing) in said
    assert "Traceback" not in said
    assert out.getvalue() == ""


def test_a_run_file_of_another_kind_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"environment": {}}')
    out, err = io.StringIO(), io.StringIO()
    assert cli(["doctor", "--run-file", str(other)], out=out, err=err, environ={}) == 2
    assert err.getvalue() == f"error: {other} is not a local stack description (it lacks 'stack')\n"
