"""Usage ingest for a producer: validate and store events with the collaborators it was built with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from functions.clock import Clock
from functions.customers.model import CustomerRepository
from functions.settings import Settings
from functions.usage.ingest import IngestResult, ingest_body, record_usage
from functions.usage.once import UsageStore
from functions.usage.schema import UsageEventIn


@dataclass(frozen=True)
class UsageRecorder:
    """Usage events checked against the buyer's subscription and stored."""

    settings: Settings
    customers: CustomerRepository
    store: UsageStore
    clock: Clock

    def record(self, events: Sequence[dict[str, Any] | UsageEventIn]) -> IngestResult:
        return record_usage(
            events, settings=self.settings, customers=self.customers, store=self.store, clock=self.clock
        )

    def ingest_body(self, body: dict[str, Any]) -> IngestResult:
        """``POST /usage``'s JSON object, parsed and ingested (``functions.usage.ingest.ingest_body``)."""
        return ingest_body(body, settings=self.settings, customers=self.customers, store=self.store, clock=self.clock)
