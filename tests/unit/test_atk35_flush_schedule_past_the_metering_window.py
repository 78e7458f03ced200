"""Attack 35: synth accepts a flush schedule under which Marketplace's 24-hour window cannot be met.

``flush_schedule`` (cdk.json) is checked for its form only (``stacks/config.py``: ``^(rate|cron)\\(.+\\)$``). A seller
who schedules the flush ``rate(1 day)`` (or ``cron(0 0 * * ? *)``, to run it less often) gets a stack that seals each
hour up to a day after it: at the daily run, the oldest hour of the day is 24 hours old or more, so the flush parks
its records ``TimestampOutOfBoundsException`` instead of sending them (``functions/flush/service.py``
``window_missed``), and no redrive can send them (``operations/redrive.py``: past the window). Each day one hour of
every buyer's usage, each unit answered 200 by the usage API, is never billed (1 in 24 here); ``rate(2 days)`` loses
more than half. Only ``RecordsFailed`` tells; ``OldestUnsentHourAgeSeconds`` counts what a run left unsent, which is
nothing.

Correct: synth refuses a schedule that leaves an hour unsealed past Marketplace's window (naming
``flush_schedule``), or every unit accepted is billed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.settings import Settings
from functions.usage.model import UsageEvent
from stacks.config import ConfigError, load_config
from tests.fakes import FakeMarketplace, InMemoryCustomers, InMemoryLedger, InMemoryUsage

DAY = datetime(2026, 11, 26, tzinfo=UTC)
LICENCE = "arn:aws:license-manager::294406891311:license:l-0a1b2c"
DAILY = "rate(1 day)"


def daily_stack_settings() -> Settings | None:
    """The settings of a stack whose flush runs once a day, as synth builds them; None where synth refuses it."""
    context = {
        "products": [{"code": "prod-code-1", "name": "P", "dimensions": [{"name": "calls"}]}],
        "flush_schedule": DAILY,
    }
    try:
        return load_config(context).settings
    except ConfigError as error:
        refused = str(error)
    assert "flush_schedule" in refused, refused  # refused, naming the setting: nothing accepted can be lost to it
    return None


def used(hour: int) -> UsageEvent:
    moment = DAY + timedelta(hours=hour, minutes=10)
    return UsageEvent(
        event_id=f"u-{hour:02d}",
        product_code="prod-code-1",
        customer_key=f"LICENSE#{LICENCE}",
        customer_aws_account_id="111122223333",
        dimension="calls",
        quantity=Decimal(1),
        timestamp=moment,
        received_at=moment,
        license_arn=LICENCE,
    )


def test_every_hour_is_billed_under_a_flush_schedule_synth_accepts() -> None:
    settings = daily_stack_settings()
    if settings is None:
        return  # the configuration cannot be deployed
    # Given a buyer who uses 1 call in every hour of a day, each answered 200 by the usage API
    usage = InMemoryUsage()
    usage.add([used(hour) for hour in range(24)])
    ledger = InMemoryLedger()
    ledger.next_hour = DAY  # a stack already running: every hour before this day sealed by its run at 00:06
    marketplace = FakeMarketplace()
    clock = ManualClock(DAY + timedelta(days=1, minutes=6))
    deps = FlushDeps(
        settings=settings,
        usage=usage,
        ledger=ledger,
        customers=InMemoryCustomers(),
        gateway=marketplace,
        clock=clock,
        backoff=Backoff(sleep=lambda _: None),
        workers=1,
    )
    # When the flush runs as the schedule has it: the next day at 00:06, and the day after
    for _ in range(2):
        flush(deps, remaining_ms=lambda: 900_000)
        clock.set(clock.now() + timedelta(days=1))
    # Then all 24 calls are billed
    parked = {hour: result.reason for (hour, _), result in ledger.results.items() if result.status == "failed"}
    assert marketplace.units(LICENCE) == 24, f"billed {marketplace.units(LICENCE)} of 24; parked: {parked}"
