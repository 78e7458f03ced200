"""Review 27: usage events must outlive their identities, or a resend is billed again.

An event counts once per customer and id for ``IDENTITY_LIFETIME`` (32 hours) after the hour that bills it; its
identity holds the event as first accepted, and a resend whose first version is no longer stored is taken as "the first
send never landed" and stored anew (``functions.usage.once``). The stored event itself expires ``AUDIT_RETENTION_DAYS``
after it was received (its DynamoDB TTL), and the settings allowed 1 day: from 24 hours after the first send, DynamoDB
may delete the event while its identity still holds, and an identical resend (same hour, still inside the 24-hour
window) is then accepted as new usage and billed a second time.

On the unit fakes: the usage table's TTL is played by removing the events whose expiry (received + retention) has
passed, as DynamoDB deletes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import record_usage
from tests.fakes import FakeMarketplace, InMemoryCustomers, InMemoryLedger, InMemoryUsage

START = datetime(2026, 11, 26, 10, tzinfo=UTC)
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),))
LICENCE = "arn:aws:license-manager::294406891311:license:l-0a1b2c"
ACCOUNT = "111122223333"


def _shortest_retention(settings: Settings) -> Settings:
    """The settings with the shortest audit retention they allow."""
    for days in range(1, 30):
        try:
            return replace(settings, audit_retention_days=days)
        except ValueError:
            continue
    raise AssertionError("no audit retention under 30 days is allowed")


def test_an_identical_resend_a_day_later_is_billed_once_with_the_shortest_retention_allowed() -> None:
    settings = _shortest_retention(Settings(products=(PRODUCT,)))
    retention = timedelta(days=settings.audit_retention_days)
    clock = ManualClock(START + timedelta(seconds=30))
    customers = InMemoryCustomers()
    customers.put(
        Customer(
            ref=CustomerRef(PRODUCT.code, license_arn=LICENCE),
            customer_aws_account_id=ACCOUNT,
            state=SubscriptionState.ACTIVE,
            state_changed_at=START - timedelta(days=2),
            registered_at=START - timedelta(days=2),
        )
    )
    usage = InMemoryUsage()
    marketplace = FakeMarketplace()
    deps = FlushDeps(
        settings=settings,
        usage=usage,
        ledger=InMemoryLedger(),
        customers=customers,
        gateway=marketplace,
        clock=clock,
        backoff=Backoff(sleep=lambda _: None),
        workers=1,
    )

    def send(stamped: datetime) -> tuple[str, ...]:
        event = {
            "event_id": "req-1",
            "product_code": PRODUCT.code,
            "license_arn": LICENCE,
            "customer_aws_account_id": ACCOUNT,
            "dimension": "calls",
            "quantity": 5,
            "timestamp": stamped.isoformat(),
        }
        result = record_usage([event], settings=settings, customers=customers, store=usage, clock=clock)
        return result.accepted

    assert send(START + timedelta(seconds=30)) == ("req-1",)
    clock.set(START + timedelta(hours=1, minutes=6))
    flush(deps, remaining_ms=lambda: 900_000)
    assert marketplace.units(LICENCE) == 5

    # 24.5 hours later the producer sends it again as it was (10:45 of the same hour, still within 24 hours)
    clock.set(START + timedelta(hours=24, minutes=31))
    for key, event in list(usage.events.items()):  # DynamoDB's TTL: the event item's expires_at has passed
        if event.received_at + retention < clock.now():
            del usage.events[key]
    send(START + timedelta(minutes=45))
    clock.set(START + timedelta(hours=25, minutes=6))
    flush(deps, remaining_ms=lambda: 900_000)
    assert marketplace.units(LICENCE) == 5  # once; not 10 (the resend stored anew and billed again)
