"""The synthesized template passes cfn-lint (CloudFormation's own linter), run as a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aws_cdk.assertions import Template


def test_the_synthesized_template_passes_cfn_lint(template: Template, tmp_path: Path) -> None:
    # Given the template as the CDK synthesized it
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template.to_json()))
    # When cfn-lint checks it for every Region we support
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--regions", "us-east-1", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then it finds nothing (exit 0); its findings are the failure message otherwise
    assert result.returncode == 0, result.stdout + result.stderr
