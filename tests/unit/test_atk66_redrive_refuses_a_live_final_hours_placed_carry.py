"""Attack 66 on 4e1afeb (``cli redrive``'s new refusal, ``operations.redrive._sealed_in_dry_run``): live, redrive
refuses every parked record of an hour sealed in dry run, saying "nothing of it is this stack's to bill, and the next
flush would answer it dry_run". The same commit makes the flush SEND one kind of record of such an hour: a leaving
buyer's carry placed there (``_placed_carries``), their final hour's usage, billed in the mode in force. The redrive
refusal ignores that exception: such a carry, parked by a transient refusal, can never be sent again, and the operator
is told, falsely, that it is not this stack's to bill and that the next flush would answer it dry_run.

Scenario (attack 65's): the rehearsal (dry-run) from 08:00, 08:00 and 09:00 sealed in dry run; the buyer's
4,000,000,000 units at 10:10 (over one record's maximum, 2,147,483,647); they leave (cutoff 10:30); the dry-run step at
10:40 places the 1,852,516,353 units carried on in 09:00, writes its records and is killed sending; go-live at 10:50.
The 11:06 live flush sends 09:00's carry (as 4e1afeb means it to) and seals and sends 10:00 live; Marketplace refuses
both calls for a while (InvalidLicenseException: the licence not known to Marketplace yet, a misconfigured product):
both records parked ``failed``. The cause is fixed; at 11:30 the operator runs ``cli redrive`` over 09:00-10:00:
10:00 requeued and billed by the 12:06 flush; 09:00's carry REFUSED ("sealed in dry run").

Result: the final hour's first 2,147,483,647 units billed, the 1,852,516,353 carried on never billed; the reconciliation
passes over 09:00 (sealed in dry run, nothing of it answered by Marketplace) and finds 10:00 clean (its total less the
placed carry): only the RecordsFailed metric of 11:06 ever counted it, and redrive's answer tells the operator it was
never owed. Invariant 2 (every unit of a leaving buyer's final hour billed live is billed or reported) and 3/4 (the
operator's tool and the flush disagree on the same record). Money: 1,852,516,353 units unbilled. New with 4e1afeb
(47f2052 and cc24175 requeue it, and the flush bills it).

Fixed: ``cli redrive`` asks what the flush would do (``dry_run_records``), and requeues the carry."""

from __future__ import annotations

import pytest

from functions.flush.customer import send_customer_usage
from functions.usage.model import MAX_INTEGER_QUANTITY
from operations.queries import OperationsDeps, select
from operations.redrive import redrive
from tests.fakes import Killed
from tests.unit.review23_world import CARRIED, LICENCE_ARN, OVER_MAXIMUM, hour, logged_world
from tests.unit.test_review23b_redrive_parked_carry import LedgerView


def test_redrive_refuses_a_live_final_hours_carry_placed_in_a_dry_run_hour() -> None:
    world, marketplace = logged_world()
    live, gateway, leaving = world.rehearse_a_leaver_over_the_maximum()
    world.clock.set(hour(10, 40))  # the dry-run step places the carry in 09:00, writes, is killed sending
    gateway.dying = True
    with pytest.raises(Killed):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    world.clock.set(hour(10, 50))
    world.deps = live  # go-live

    marketplace.refuse = {LICENCE_ARN}  # Marketplace refuses the buyer's calls for a while
    world.at(hour(11, 10))  # 11:06: the carry in 09:00 and 10:00's record sent live, both refused, parked
    parked = {h: [(e.status, e.reason) for e in world.ledger.entries_of_hour(hour(h))] for h in (9, 10)}
    assert parked == {9: [("failed", "InvalidLicenseException")], 10: [("failed", "InvalidLicenseException")]}
    marketplace.refuse = set()  # fixed

    world.clock.set(hour(11, 30))
    operations = OperationsDeps(world.settings, world.customers, world.usage, LedgerView(world), world.clock)
    outcomes = {
        o.entry.record.hour.hour: (o.outcome, o.why)
        for o in redrive(operations, select(operations, since=hour(9), until=hour(10)))
    }
    world.at(hour(14, 10))

    assert world.billed_hours().get(hour(10)) == MAX_INTEGER_QUANTITY  # the final hour, requeued and billed
    assert world.billed_hours() == {hour(9): CARRIED, hour(10): MAX_INTEGER_QUANTITY}, (
        f"{OVER_MAXIMUM - sum(world.billed_hours().values())} units of a final hour billed live never billed: redrive "
        f"answered {outcomes}"
    )
