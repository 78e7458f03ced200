"""The emulated marketplace as one object: the seller's world, the parts that share it, and one lock.

The HTTP layer (``server``) only translates bytes; everything with semantics is behind :class:`Marketplace`, so it
is driven the same way from the AWS side, the admin API, the buyer pages and Python (``server.marketplace``). Its
methods are one line each, handing over to the module of their concern:

- ``aws_pipeline``: every AWS call (faults, quota, validation, dispatch, call log, lost responses);
- ``world_admin``: products, buyers, subscriptions, config, clock, faults, webhooks, reset;
- ``lifecycle``: confirm, fail, unsubscribe, finalize, renew, ending, entitlements, tokens, and ``tick``;
- ``queries``: read-only views (ledger, calls, notifications, listings);
- ``persistence``: the state file and its background writer.

Lock discipline (every module above follows it):

- ``lock`` (reentrant) guards ``world`` and everything in it: read or change the world only while holding it, and
  answer with copies made under it (notification entries, never changed once made, are passed on as they are).
  One exception: ``world.config`` may be read without it (quota, buyer page), because the config dict is only ever
  replaced whole, never changed in place, so a reader holding one sees one consistent config.
- Nothing slow or outward happens under it. Injected latency, the fault queue and the quota run before it is
  taken; notifications emitted under it are only queued, and :meth:`flush_notifications` hands them to listeners
  and webhooks after it is released, so a listener may call back into the emulator.
- :meth:`persist` under it only marks the world dirty. The state writer takes its own write lock, then this one
  just long enough to snapshot, and writes the file outside it: writer lock first, never the other way round.
- ``clock``, ``faults``, ``quota`` and ``hub`` have small locks of their own and may be used with or without it.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from . import aws_pipeline, lifecycle, persistence, queries, world_admin
from .aws_pipeline import Outcome
from .clock import Clock
from .errors import ApiError
from .faults import Faults
from .metering import Caller
from .notifications import NotificationHub
from .quota import TokenBuckets
from .world import World


class Marketplace:
    def __init__(self, state_file: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.clock = Clock()
        self.faults = Faults()
        self.quota = TokenBuckets()
        self.hub = NotificationHub()
        self.world = World()
        self._writer: persistence.StateWriter | None = None
        if self.state_file is not None:
            self._writer = persistence.StateWriter(self.state_file, self._snapshot)
            saved = persistence.load_world(self.state_file)
            if saved is not None:
                self.world = saved
                self.clock.set_offset(saved.clock_offset_seconds)

    # -- shared plumbing -----------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def persist(self) -> None:
        """Schedule a state-file write after a mutation; a no-op for in-memory worlds."""
        if self._writer is not None:
            self._writer.schedule()

    def flush_state(self) -> None:
        """Write the state file now (blocks until it is on disk)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Stop the background writer and write the final state."""
        if self._writer is not None:
            self._writer.close()

    def _snapshot(self) -> dict[str, Any]:
        with self.lock:
            return persistence.snapshot(self.world, self.clock)

    def flush_notifications(self) -> None:
        """Deliver the notifications queued since the last flush; call without holding the lock."""
        with self.lock:
            webhooks = list(self.world.webhooks)
        self.hub.flush(webhooks)

    # -- AWS side ------------------------------------------------------------------------------------------------

    def handle_aws(
        self,
        service: str,
        operation: str,
        params: dict[str, Any] | None,
        caller: Caller,
        parse_error: str | None = None,
    ) -> Outcome:
        return aws_pipeline.handle_aws(self, service, operation, params, caller, parse_error)

    def log_unroutable(self, operation: str, caller: Caller, error: ApiError) -> None:
        aws_pipeline.log_unroutable(self, operation, caller, error)

    # -- the seller's world (admin) ------------------------------------------------------------------------------

    def reset(self) -> None:
        world_admin.reset(self)

    def set_config(self, update: dict[str, Any]) -> dict[str, Any]:
        return world_admin.set_config(self, update)

    def reset_config(self) -> dict[str, Any]:
        return world_admin.reset_config(self)

    def set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        return world_admin.set_clock(self, body)

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        return world_admin.set_faults(self, body)

    def add_product(self, body: dict[str, Any]) -> dict[str, Any]:
        return world_admin.add_product(self, body)

    def add_buyer(self, body: dict[str, Any]) -> dict[str, Any]:
        return world_admin.add_buyer(self, body)

    def subscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        return world_admin.subscribe(self, body)

    def add_webhook(self, url: str) -> list[str]:
        return world_admin.add_webhook(self, url)

    def remove_webhooks(self) -> None:
        world_admin.remove_webhooks(self)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def tick(self) -> None:
        lifecycle.tick(self)

    def lifecycle(self, agreement_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return lifecycle.step(self, agreement_id, action, body)

    # -- reads ---------------------------------------------------------------------------------------------------

    def products(self) -> list[dict[str, Any]]:
        return queries.products(self)

    def buyers(self) -> list[dict[str, Any]]:
        return queries.buyers(self)

    def subscriptions(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        return queries.subscriptions(self, filters)

    def subscription(self, agreement_id: str) -> dict[str, Any]:
        return queries.subscription(self, agreement_id)

    def ledger(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        return queries.ledger(self, filters)

    def calls(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        return queries.calls(self, filters)

    def notifications(self, after: int) -> list[dict[str, Any]]:
        return queries.notifications(self, after)

    def config(self) -> dict[str, Any]:
        return queries.config(self)

    def webhooks(self) -> dict[str, Any]:
        return queries.webhooks(self)

    def state(self) -> dict[str, Any]:
        return queries.state(self)
