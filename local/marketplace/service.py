"""The emulated marketplace as one object, so it is driven the same way from the AWS side, the admin API, the buyer
pages and Python (``server.marketplace``). The HTTP layer (``server``) only translates bytes; each method here is one
line, handing over to the module of its concern, which takes the shared state (``state.EmulatorState``, where the
lock discipline is written down):

- ``aws_pipeline``: every AWS call (faults, quota, validation, dispatch, call log, lost responses);
- ``world_admin``: products, buyers, subscriptions, config, clock, faults, webhooks, reset;
- ``lifecycle``: confirm, fail, unsubscribe, finalize, renew, ending, entitlements, tokens, a failed refund, and
  ``tick``;
- ``queries``: read-only views (ledger, calls, notifications, listings);
- ``persistence``: the state file and its background writer.
"""

from __future__ import annotations

from typing import Any

from . import aws_pipeline, lifecycle, queries, world_admin
from .aws_pipeline import Outcome
from .errors import ApiError
from .operation import Caller
from .state import EmulatorState


class Marketplace(EmulatorState):
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

    def fail_billing_adjustment(self, request_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return lifecycle.fail_billing_adjustment(self, request_id, body)

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
