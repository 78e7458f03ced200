"""The emulator stands on its own: its wheel builds from ``local/marketplace`` alone, installs in a clean virtualenv
with nothing of this repository, serves from its console script, and passes its own tests from the installed copy.

One build and install per session (pip resolves from its cache and the machine's wheel folders; no app code)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "local" / "marketplace"
# the repository's pins of what the emulator and its tests need, so the clean copy runs on the same botocore model
PINNED = ("boto3", "botocore", "cbor2", "pytest", "hypothesis")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path  # outside the repository: nothing of it is importable from here

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(
            list(args), cwd=self.workdir, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )


def _pins() -> str:
    lines = [
        *(ROOT / "requirements.txt").read_text().splitlines(),
        *(ROOT / "requirements-dev.txt").read_text().splitlines(),
    ]
    pins = [line.split("#")[0].strip() for line in lines if re.match(rf"^({'|'.join(PINNED)})==", line)]
    assert len(pins) == len(PINNED), pins
    return "\n".join(pins) + "\n"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("emulator-package")
    source = work / "source"  # a copy: the build leaves nothing behind in the repository
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    quiet = ["--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            *quiet,
            "--no-deps",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        check=True,
    )
    (wheel,) = (work / "dist").glob("marketplace_emulator-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = work / "constraints.txt"
    constraints.write_text(_pins())
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", *quiet, "-c", str(constraints), f"{wheel}[test]"],
        check=True,
    )
    workdir = work / "elsewhere"
    workdir.mkdir()
    return Installed(wheel, venv, workdir)


def test_the_wheel_holds_the_emulator_its_tests_and_documents_and_nothing_else(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    packaged = {name for name in names if not name.startswith("marketplace_emulator-")}
    assert all(name.startswith("marketplace_emulator/") for name in packaged), packaged
    expected = {
        f"marketplace_emulator/{p.relative_to(SOURCE)}" for p in SOURCE.rglob("*.py") if "__pycache__" not in p.parts
    }
    expected |= {f"marketplace_emulator/{name}" for name in ("README.md", "CONTRACT.md", "CONFORMANCE.md")}
    assert packaged == expected


def test_the_installed_copy_needs_nothing_of_this_repository(installed: Installed) -> None:
    probe = (
        "import importlib.util, json, marketplace_emulator.server as s; "
        "print(json.dumps([s.__file__, [m for m in ('local', 'functions', 'operations', 'tests') "
        "if importlib.util.find_spec(m)]]))"
    )
    done = installed.run(str(installed.python), "-c", probe)
    assert done.returncode == 0, done.stderr
    where, visible = json.loads(done.stdout)
    assert Path(where).is_relative_to(installed.venv)
    assert visible == []


def test_its_own_tests_pass_from_the_installed_copy(installed: Installed) -> None:
    in_repository = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(SOURCE / "tests")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    collected = re.search(r"(\d+) tests? collected", in_repository.stdout)
    assert collected, in_repository.stdout[-2000:]
    done = installed.run(
        str(installed.python), "-m", "pytest", "--pyargs", "marketplace_emulator.tests", "-q", "-p", "no:cacheprovider"
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed, done.stdout[-2000:]
    assert passed.group(1) == collected.group(1), done.stdout[-2000:]


def test_the_console_script_serves_the_demo_world(installed: Installed) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen(
        [str(installed.venv / "bin" / "marketplace-emulator"), "--port", "0", "--demo"],
        cwd=installed.workdir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "AWS Marketplace emulator listening on http://127.0.0.1:" in line, line
        url = line.split()[-1]
        with urllib.request.urlopen(f"{url}/admin/products", timeout=10) as answer:
            products = json.loads(answer.read())
        assert [p["code"] for p in products["products"]] == ["demo-saas-product"]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0


def test_a_bad_argument_is_one_line_naming_it(installed: Installed) -> None:
    done = installed.run(str(installed.venv / "bin" / "marketplace-emulator"), "--port", "70000")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "marketplace-emulator: error: argument --port: '70000' is not a port number (0 to 65535)"
    )
    assert "Traceback" not in done.stderr
