"""Attack review 34: two ``cli adjust --send`` runs at once (an operator's and a scheduled one, or two operators) work
out the same refund, one client token. Both keep and claim it (a claim by the same token is a retry of it) and both
send it. AWS takes the first; the second arrives while it is in flight, and AWS answers it ``CONFLICT_EXCEPTION``
(the model's error for a resource conflict; 731b752's own comment: "a conflict says it knows the token"). To the
second run that is a first send, and a first send refused ``CONFLICT_EXCEPTION`` is released (REFUSED): it deletes
the claims and the kept refund, which are the first run's, of a refund AWS took. The first run's answer then comes
and is kept alone, with nothing holding the hour, and the next run refunds the hour again under a new token, capped
at what the invoice has left.
Invariants 1 and 3; at stake: the hour refunded again up to the invoice's room left, here 1.00 more (2.00 over-billed
in eu-west-1 at 09:00, 3.00 refunded)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from operations.agreement_billing import RefundEntry, RefundOutcome
from tests.fakes import InMemoryRefundClaims
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk32_resend_refused_stuck_forever import Invoiced

WAIT = 30  # seconds: a guard against a hang, never reached when the runs go as arranged


def _wait(event: threading.Event) -> None:
    assert event.wait(WAIT), "the runs did not go as arranged"


@dataclass
class InFlight(Invoiced):
    """The invoice as the emulator keeps it, with a call in flight: a token another call is taking answers
    ``CONFLICT_EXCEPTION``. The run named ``first`` has its call held in flight until the other run is done."""

    in_flight: set[str] = field(default_factory=set)
    first_in_flight: threading.Event = field(default_factory=threading.Event)
    second_done: threading.Event = field(default_factory=threading.Event)

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        if threading.current_thread().name != "first":
            conflicts = [e for e in entries if e.client_token in self.in_flight]
            answers = [RefundOutcome(e.client_token, None, "CONFLICT_EXCEPTION", "in progress") for e in conflicts]
            return answers + super().refund([e for e in entries if e not in conflicts])
        answers = super().refund(entries)  # taken now; the answer comes once the other run is done
        self.in_flight |= {e.client_token for e in entries}
        self.first_in_flight.set()
        _wait(self.second_done)
        self.in_flight.clear()
        return answers


def test_a_run_refused_conflict_for_the_refund_another_run_is_sending_never_frees_its_hours() -> None:
    world = TwoRegions(home=None, away=200)  # eu-west-1, 09:00: 2.00 over-billed
    world.book = invoice = InFlight(room=Decimal("3.00"))  # type: ignore[assignment]
    second_read = threading.Event()
    claimed: set[str] = set()

    def step(operation: str, phase: str) -> None:
        me = threading.current_thread().name
        if operation != "put_item" or phase != "before" or me in claimed:
            return
        claimed.add(me)  # each run's first claim: both have read what was asked before, neither claimed
        if me == "first":
            _wait(second_read)
        elif me == "second":
            second_read.set()
            _wait(invoice.first_in_flight)

    world.claims = InMemoryRefundClaims(step)
    codes: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            codes[name] = world.adjust()
        except Exception as error:  # shown by the assertions below
            codes[name] = error
        finally:
            if name == "second":
                invoice.second_done.set()

    runs = [threading.Thread(target=run, args=(n,), name=n) for n in ("first", "second")]
    for t in runs:
        t.start()
    for t in runs:
        t.join(WAIT)
    assert [e.amount for e in invoice.refunded] == [Decimal("2.00")], codes  # AWS took the refund once
    for _ in range(2):  # the second run said "refused": the operator runs it again
        codes["again"] = world.adjust()
    refunded = sum((e.amount for e in invoice.refunded), Decimal(0))
    # AWS over-billed 2.00: never more refunded than that
    assert refunded == Decimal("2.00"), ([(e.amount, e.client_token) for e in invoice.refunded], codes)
