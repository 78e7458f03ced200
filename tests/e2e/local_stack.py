"""The local stack started exactly as `make run` starts it (`python -m local.stack`), on free ports."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from local.dynamodb import free_port
from local.loopback import read_banner

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LaunchedStack:
    process: subprocess.Popen[str]
    banner: str
    ports: dict[str, int]
    output: str = field(default="")

    def url(self, part: str) -> str:
        """Where ``part`` (as the banner names it: "Marketplace emulator", "Usage API", ...) listens."""
        found = re.search(rf"^\s+{re.escape(part)}\s+(http://\S+?)/?\s", self.banner, re.M)
        assert found, self.banner
        return found.group(1)


@contextmanager
def launched(run_file: Path, *options: str) -> Iterator[LaunchedStack]:
    """Start it (no outside DynamoDB), wait for its banner, and on exit send Ctrl-C and collect its output."""
    ports = {name: free_port() for name in ("api", "marketplace", "dynamodb")}
    env = {k: v for k, v in os.environ.items() if k != "DYNAMODB_ENDPOINT"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.stack",
            *(f"--{name}-port={port}" for name, port in ports.items()),
            f"--run-file={run_file}",
            *options,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    stack = LaunchedStack(process, read_banner(process.stdout), ports)
    try:
        assert "Local stack is up" in stack.banner, stack.banner
        yield stack
    finally:
        process.send_signal(signal.SIGINT)
        try:
            stack.output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)  # every thread's stack, to say where the stop waits
            with contextlib.suppress(subprocess.TimeoutExpired):  # still waiting: the stacks are printed by now
                process.communicate(timeout=5)
            process.kill()
            stack.output, _ = process.communicate(timeout=60)
            raise AssertionError(f"the stack did not stop within 60 s after Ctrl-C:\n{stack.output[-30000:]}") from None
