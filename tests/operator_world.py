"""A stack's tables on DynamoDB Local and the Marketplace emulator, with active buyers whose usage is recorded
through the usage capability, driven as an operator drives it: the CLI against the local target, one moved clock for
the app and the emulator. Shared by the CLI, reconcile and report tests."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Self

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Product, Settings
from functions.usage.ingest import record_usage
from functions.usage.store import DynamoUsageStore
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION, create_tables
from operations.cli import main
from operations.queries import TrailSource
from operations.target import Target, local_target
from stacks.schema import REGIONAL_TABLES


@contextlib.contextmanager
def regional_stack(main: Settings, region: str, dynamodb: Any) -> Iterator[Settings]:
    """Another Region's metering stack beside ``main``'s, as ``make run REGIONS=...`` lays it out: its own usage and
    metering tables on DynamoDB Local (the main stack's customers table standing for its replica); dropped after."""
    regional = replace(
        main,
        region=region,
        usage_table=f"{main.usage_table}-{region}",
        metering_table=f"{main.metering_table}-{region}",
        other_metering_regions=(),
    )
    create_tables(dynamodb, regional, REGIONAL_TABLES)
    try:
        yield regional
    finally:
        for table in (regional.usage_table, regional.metering_table):
            dynamodb.delete_table(TableName=table)


@dataclass
class OperatorWorld:
    settings: Settings
    clock: ManualClock
    marketplace: EmulatorHandle
    dynamodb: Any
    product: Product
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    regions: tuple[Settings, ...] = ()  # other Regions' metering stacks (their own usage and metering tables)
    _target: Target | None = None

    @classmethod
    def with_buyers(
        cls,
        settings: Settings,
        marketplace: EmulatorHandle,
        dynamodb: Any,
        product: Product,
        accounts: tuple[str, ...],
        start: datetime,
    ) -> Self:
        """``product`` in the emulator and the settings, and an active customer per account since the day before
        ``start``, where both clocks stand."""
        marketplace.admin.create_product(
            product.code, [d.name for d in product.dimensions], customer_mode=product.customer_mode
        )
        world = cls(settings, ManualClock(start), marketplace, dynamodb, product)
        world.move_to(start)
        repository = DynamoCustomerRepository(dynamodb, settings.customers_table)
        for account in accounts:
            subscription = marketplace.admin.subscribe(product.code, account, start_time="2026-11-25T00:00:00Z")
            world.subscriptions.append(subscription)
            repository.put(
                Customer(
                    ref=CustomerRef(product.code, license_arn=subscription["license_arn"]),
                    customer_aws_account_id=account,
                    state=SubscriptionState.ACTIVE,
                    state_changed_at=start - timedelta(days=1),
                    registered_at=start - timedelta(days=1),
                )
            )
        return world

    def target(self) -> Target:
        if self._target is None:
            self._target = local_target(self.settings, credentials={}, clock=self.clock, regions=self.regions)
        return self._target

    def reading_cloudtrail(self, trail: TrailSource) -> None:
        """The CLI reads CloudTrail's event history through ``trail`` instead of the emulator's."""
        self._target = replace(self.target(), trail=trail)

    def cli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        target = self.target()
        status = main(list(argv), out=out, err=err, target=lambda _: target)
        return status, out.getvalue(), err.getvalue()

    def move_to(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.marketplace.admin.set_clock(moment.isoformat().replace("+00:00", "Z"))

    def use(
        self,
        account_index: int,
        dimension: str,
        quantity: int | str,
        event_id: str,
        *,
        region: Settings | None = None,
    ) -> None:
        """Usage through the usage capability, of this stack or of the metering stack of ``region``."""
        settings = region or self.settings
        subscription = self.subscriptions[account_index]
        result = record_usage(
            [
                {
                    "event_id": event_id,
                    "product_code": self.product.code,
                    "license_arn": subscription["license_arn"],
                    "customer_aws_account_id": subscription["account_id"],
                    "dimension": dimension,
                    "quantity": quantity,
                    "timestamp": self.clock.now().isoformat(),
                }
            ],
            settings=settings,
            customers=DynamoCustomerRepository(self.dynamodb, settings.customers_table),
            store=DynamoUsageStore(
                self.dynamodb,
                settings.usage_table,
                shards=settings.usage_shards,
                retention=FIXED_DATE_RETENTION,
            ),
            clock=self.clock,
        )
        assert list(result.accepted) == [event_id]
