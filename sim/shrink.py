"""A failing world made small: actions of its plan removed (delta debugging) while the same invariant still breaks, so
the trace a failure prints is a few actions long, and ``--keep`` replays exactly that run."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.plan import draw
from sim.run import Result, simulate


@dataclass(frozen=True)
class Shrunk:
    keep: tuple[int, ...]
    result: Result
    runs: int
    actions: int  # in the whole plan


def breaks(result: Result, invariant: str) -> bool:
    return any(v[0] == invariant for v in result.violations)


def shrink(
    seed: int,
    invariant: str,
    *,
    mutant: str | None = None,
    budget: int = 400,
    refunds: bool = False,
    settings: bool = False,
    stops: bool = False,
    returns: bool = False,
) -> Shrunk:
    """The fewest actions (as found within ``budget`` runs) whose world still breaks ``invariant``."""
    drawn = {"refunds": refunds, "settings": settings, "stops": stops, "returns": returns}
    ids = draw(seed, **drawn).removable
    total = len(ids)
    best = simulate(seed, keep=set(ids), mutant=mutant, **drawn)
    runs, parts = 1, 2
    while len(ids) > 1 and runs < budget:
        size = math.ceil(len(ids) / parts)
        for start in range(0, len(ids), size):
            candidate = ids[:start] + ids[start + size :]
            result = simulate(seed, keep=set(candidate), mutant=mutant, **drawn)
            runs += 1
            if breaks(result, invariant):
                ids, best = candidate, result
                parts = max(parts - 1, 2)
                break
            if runs >= budget:
                break
        else:
            if parts >= len(ids):
                break
            parts = min(len(ids), parts * 2)
    return Shrunk(tuple(ids), best, runs, total)
