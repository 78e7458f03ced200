"""Proof that the simulator can fail: each deliberately broken variant of our code (sim/mutants.py) breaks an invariant
within 1,000 seeds. A mutant that survives is a hole in the simulator."""

from __future__ import annotations

import os

import pytest

from sim.mutants import MUTANTS, QUICK_RETURN_MUTANTS, REFUND_MUTANTS
from sim.run import many

WITHIN = 1000


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_simulator_catches_the_mutant_within_a_thousand_seeds(mutant: str) -> None:
    caught = next(
        (
            r
            for r in many(
                0,
                WITHIN,
                jobs=os.cpu_count() or 1,
                mutant=mutant,
                chunk=8,
                stop_at_first=True,
                refunds=mutant in REFUND_MUTANTS,
                returns=mutant in QUICK_RETURN_MUTANTS,
            )
            if r.violations
        ),
        None,
    )
    assert caught is not None, f"{mutant} survived {WITHIN} seeds: a hole in the simulator"
    assert caught.first is not None
    print(f"{mutant}: caught at seed {caught.seed}: {caught.first[0]}")
