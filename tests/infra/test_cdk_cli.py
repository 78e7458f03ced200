"""The real CDK CLI, pinned with a supported Node.js in tools/cdk (make toolchain), synthesizes the app offline and
without credentials from this checkout: what `make synth`, `make diff` and `make deploy` run. On that one synth it
finds no feature flag unconfigured, and diffs the stack against a saved template, still offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.infra.conftest import ROOT

TOOLCHAIN = ROOT / "tools" / "cdk" / "node_modules" / ".bin"


def _cdk(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOLCHAIN / "cdk"), *arguments, "--no-notices"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_cdk_synth_flags_and_diff_through_the_cli_work_offline_on_a_supported_node(tmp_path: Path) -> None:
    assert (TOOLCHAIN / "cdk").exists(), "run `make toolchain` (make test does)"
    # no AWS credentials, profile or instance metadata to fall back on
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment |= {
        "PATH": f"{TOOLCHAIN}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_NODE": str(TOOLCHAIN / "node"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    node = subprocess.run(["node", "--version"], env=environment, capture_output=True, text=True, check=True)
    assert int(node.stdout.strip().lstrip("v").split(".")[0]) >= 22  # CDK's supported Node releases
    assembly = tmp_path / "cdk.out"
    result = _cdk(environment, "synth", "--quiet", "-o", str(assembly))
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr  # jsii's warning about an unsupported Node
    manifest = json.loads((assembly / "manifest.json").read_text())
    assert "MarketplaceMetering" in manifest["artifacts"]

    # `cdk flags` reads the flags the synth reported: every one aws-cdk-lib recommends is configured
    flags = _cdk(environment, "flags", "--unstable=flags", "--app", str(assembly))
    assert flags.returncode == 0, flags.stderr
    assert "Unconfigured feature flags" in flags.stdout + flags.stderr
    assert "<unset>" not in flags.stdout + flags.stderr

    # `cdk diff` against a saved template needs no account: here one from before the dashboard was added
    template = json.loads((assembly / "MarketplaceMetering.template.json").read_text())
    dashboards = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert len(dashboards) == 1
    del template["Resources"][dashboards[0]]
    saved = tmp_path / "saved.template.json"
    saved.write_text(json.dumps(template))
    diff = _cdk(environment, "diff", "--app", str(assembly), "--template", str(saved), "MarketplaceMetering")
    output = diff.stdout + diff.stderr
    assert diff.returncode == 0, output
    added = [line for line in output.splitlines() if line.startswith("[+] AWS::CloudWatch::Dashboard")]
    assert len(added) == 1, output
    assert added[0].endswith(dashboards[0])
    assert "Number of stacks with differences: 1" in output
