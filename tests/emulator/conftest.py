"""Fixtures for tests that talk to the local AWS Marketplace emulator.

- ``marketplace_server``: one in-process :class:`EmulatorServer` per session, on a free loopback port.
- ``marketplace``: resets that server's world and returns an :class:`EmulatorHandle`
  (``url, admin = marketplace``; also ``marketplace.metering()``, ``marketplace.subscribe_buyer()``).

They live in ``local.marketplace.pytest_plugin`` so other test trees can use the same ones.
"""

from local.marketplace.pytest_plugin import marketplace, marketplace_server

__all__ = ["marketplace", "marketplace_server"]
