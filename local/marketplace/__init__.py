"""A local AWS Marketplace for SaaS sellers: metering, entitlement, agreements, subscriptions, notifications.

Start it with ``marketplace-emulator --port 8090 --demo`` (installed as ``marketplace_emulator``; in its repository
``python -m local.marketplace``) or in-process with :class:`server.EmulatorServer`; see README.md and CONTRACT.md.
"""
