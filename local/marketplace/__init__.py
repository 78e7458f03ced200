"""A local AWS Marketplace for SaaS sellers: metering, entitlement, subscriptions, notifications.

Start it with ``python -m local.marketplace --port 8090 --demo`` or in-process with
:class:`local.marketplace.server.EmulatorServer`; see README.md and CONTRACT.md.
"""
