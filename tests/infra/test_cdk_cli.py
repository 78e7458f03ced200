"""The real CDK CLI, pinned with a supported Node.js in tools/cdk (make toolchain), synthesizes the app offline from
this checkout: what `make synth`, `make diff` and `make deploy` run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.infra.conftest import ROOT

TOOLCHAIN = ROOT / "tools" / "cdk" / "node_modules" / ".bin"


def test_cdk_synth_through_the_cli_works_offline_on_a_supported_node(tmp_path: Path) -> None:
    assert (TOOLCHAIN / "cdk").exists(), "run `make toolchain` (make test does)"
    environment = {
        **os.environ,
        "PATH": f"{TOOLCHAIN}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_NODE": str(TOOLCHAIN / "node"),
    }
    node = subprocess.run(["node", "--version"], env=environment, capture_output=True, text=True, check=True)
    assert int(node.stdout.strip().lstrip("v").split(".")[0]) >= 22  # CDK's supported Node releases
    result = subprocess.run(
        [str(TOOLCHAIN / "cdk"), "synth", "--no-notices", "--quiet", "-o", str(tmp_path / "cdk.out")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr  # jsii's warning about an unsupported Node
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    assert "MarketplaceMetering" in manifest["artifacts"]
