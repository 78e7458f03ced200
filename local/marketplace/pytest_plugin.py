"""Pytest fixtures for the emulator, shareable project-wide.

Enable them for a whole test tree with ``pytest_plugins = ["local.marketplace.pytest_plugin"]`` in the
top-level conftest, or import the two fixtures into a conftest (as ``tests/emulator/conftest.py`` does).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import EmulatorServer
from .testing import EmulatorHandle, fresh_world, start_emulator


@pytest.fixture(scope="session")
def marketplace_server() -> Iterator[EmulatorServer]:
    """One in-process emulator for the session, on a free loopback port."""
    server = start_emulator()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def marketplace(marketplace_server: EmulatorServer) -> EmulatorHandle:
    """A fresh world on the session emulator: ``url, admin = marketplace``."""
    return fresh_world(marketplace_server)
