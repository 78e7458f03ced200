"""The emulator's fixtures (``pytest_plugin``) for its own tests."""

from ..pytest_plugin import marketplace, marketplace_server

__all__ = ["marketplace", "marketplace_server"]
