"""Fixtures for tests that talk to the local AWS Marketplace emulator (reusable by other test packages).

- ``marketplace_server``: one in-process :class:`EmulatorServer` per session, on a free loopback port.
- ``marketplace``: resets that server's world and returns an :class:`EmulatorHandle`
  (``url, admin = marketplace``; also ``marketplace.metering()``, ``marketplace.subscribe_buyer()``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.marketplace.server import EmulatorServer
from local.marketplace.testing import EmulatorHandle, fresh_world, start_emulator


@pytest.fixture(scope="session")
def marketplace_server() -> Iterator[EmulatorServer]:
    server = start_emulator()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def marketplace(marketplace_server: EmulatorServer) -> EmulatorHandle:
    return fresh_world(marketplace_server)
