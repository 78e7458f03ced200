"""Attack 38 (on 28ed377, a hole in the simulator's proof): ``run_settle`` now calls ``settle`` with a fifth argument
(``claimed``, when a legacy refund's hours were last claimed), but the ``unfound-refund-settled`` mutant
(sim/mutants.py) still patches in a ``settle`` of four: every settle run under it raises TypeError, which the world
records as a crash. tests/sim/test_mutants.py then finds the mutant "caught" by that crash, not by the invariant it
is there to prove the simulator checks (a refund never sent kept as answered leaves its hours "refunded before" for
ever): the proof holds whatever the simulator's refund invariants do.

In-memory fakes of our interfaces: one refund of 09:00 kept, never taken; settle run under the mutant."""

from __future__ import annotations

from sim.mutants import MUTANTS
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import Aws, settle


def test_the_unfound_refund_mutant_settles_as_the_mutant_says_rather_than_crashing() -> None:
    world = TwoRegions(home=300, away=None)  # 09:00: 3.00 over-billed
    world.book = Aws()  # down: the refund is kept, never taken
    world.adjust(until=HOUR)
    with MUTANTS["unfound-refund-settled"]():
        (row,) = settle(world)
    # the mutant keeps the refund AWS lists nothing of as answered
    assert row["outcome"].startswith("AWS took it: ba-unfound"), row
