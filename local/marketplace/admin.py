"""``from local.marketplace.admin import AdminClient``, the import path CONTRACT.md promises: the client lives in
``admin_client``, and this name stays for the code that imports it (``tests/e2e``, and anyone following the
contract)."""

from .admin_client import AdminAPIError, AdminClient

__all__ = ["AdminAPIError", "AdminClient"]
