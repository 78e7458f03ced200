"""The operator at their terminal: ``cli adjust --send`` (``operations.adjust_cli.run_adjust``, our real code)
and ``cli adjust --settle --send`` (``run_settle``) against the world, ``adjust`` over the window an action of the plan
names. It reads what the CLI reads (the reconciliation of our tables against CloudTrail, the agreements' invoices and
adjustments) and keeps its refund claims in an in-memory store of ``DynamoRefundClaims``'s contract
(``tests.fakes.InMemoryRefundClaims``), each item's read and write a port call."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from functions.flush.records import MeteringEntry
from functions.settings import Settings
from functions.usage.model import hour_of
from operations.adjust_cli import run_adjust, run_settle
from operations.metering_view import LedgerView
from operations.queries import OperationsDeps, Selection
from operations.refund_claims import AskedRefund
from operations.target import Target
from sim.agreements import SimAgreements
from sim.marketplace import SimMarketplace
from sim.ports import Instrumented, SimLedger
from sim.scheduler import Actor, Scheduler
from tests.fakes import InMemoryRefundClaims


class SimMeteringView(LedgerView):
    """``operations.queries.MeteringView`` on the simulated ledger: what ``reconcile`` reads of it."""

    def pending_count(self) -> int:
        raise NotImplementedError("cli adjust reads no pending count")

    def requeue(self, entry: MeteringEntry) -> bool:
        raise NotImplementedError("cli adjust requeues nothing")


class ClaimsSeen(InMemoryRefundClaims):
    """The refund claims, and which run each refund was last claimed by. A claim succeeds only while no answer to the
    refund is kept, so the run that claimed it sends it without knowing of an answer another run (``--settle``) kept
    after its claim: that send is decided as every resend of a refund whose answer was lost is (seed 824007)."""

    def __init__(self, scheduler: Scheduler) -> None:
        super().__init__(step=lambda operation, phase: scheduler.port(f"refund_claims.{operation}", phase))
        self._scheduler = scheduler
        self.claimed_by: dict[str, Actor] = {}

    def claim(self, asked: AskedRefund, at: datetime, replacing: Iterable[str] = ()) -> bool:
        token = asked.entry.client_token
        # as the claim began: a claim that succeeds though an answer was kept (a mutant's) is not one made unknowing
        answered = (kept := self.asked.get(token)) is not None and kept.request_id is not None
        claimed = super().claim(asked, at, replacing)
        actor = self._scheduler.current()
        if claimed and not answered and actor is not None:
            self.claimed_by[token] = actor.invocation
        return claimed


class Operator:
    """What ``cli adjust`` runs against: the world's tables, CloudTrail, the Agreement Service, the refund claims."""

    def __init__(
        self,
        scheduler: Scheduler,
        settings: Settings,
        customers: Any,
        usage: Any,
        ledger: SimLedger,
        marketplace: SimMarketplace,
        agreements: SimAgreements,
    ) -> None:
        self.claims = ClaimsSeen(scheduler)
        deps = OperationsDeps(
            settings=settings,
            customers=customers,
            usage=usage,
            metering=SimMeteringView(ledger),
            clock=scheduler.clock,
            notices=customers,  # AWS's Billing Adjustment Failed events, as the lifecycle kept them
        )
        self.target = Target(
            name="sim",
            deps=deps,
            run_flush=lambda progress: {},
            contacts=cast(Any, None),
            trail=lambda unreadable: marketplace,
            billing=lambda: cast(Any, agreements),
            refund_claims=lambda: cast(Any, self.claims),
            # cli adjust --settle keeps a Failed event AWS's answer tells of, as the lifecycle keeps the event
            keep_notice=Instrumented(customers.lifecycle_store, scheduler, "lifecycle_store").record_notice,
        )

    def adjust(self, since: datetime, until: datetime) -> tuple[int, str]:
        """``cli adjust --from since --to until --send --json``: its exit code and what it printed."""
        out = io.StringIO()
        selection = Selection(hour_of(since), hour_of(until))
        code = run_adjust(argparse.Namespace(send=True, json=True), self.target, selection, out, lambda rows, c: "")
        return code, out.getvalue()

    def settle(self) -> tuple[int, str]:
        """``cli adjust --settle --send --json``: its exit code and what it printed."""
        out = io.StringIO()
        code = run_settle(argparse.Namespace(send=True, json=True), self.target, out, lambda rows, c: "")
        return code, out.getvalue()
