"""One seed, run: the world its plan draws (or a part of it), the invariants checked; and many seeds over every core."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sim import invariants, mutants, refund_invariants
from sim.plan import Plan, draw
from sim.world import World, quiet


@dataclass(frozen=True)
class Result:
    seed: int
    violations: tuple[tuple[str, str, datetime], ...]
    buyer_hours: float  # buyers' subscribed hours the world simulated
    steps: int
    injected: dict[str, int] = field(default_factory=dict)
    trace: tuple[str, ...] = ()

    @property
    def first(self) -> tuple[str, str, datetime] | None:
        return self.violations[0] if self.violations else None


def simulate(
    seed: int,
    *,
    keep: set[int] | None = None,
    trace: bool = False,
    mutant: str | None = None,
    refunds: bool = False,
    settings: bool = False,
    stops: bool = False,
    rehearsals: bool = True,
    returns: bool = False,
) -> Result:
    plan = draw(seed, refunds=refunds, settings=settings, stops=stops, rehearsals=rehearsals, returns=returns)
    if keep is not None:
        plan = plan.keeping(keep)
    with quiet(), mutants.applied(mutant):
        world = World(plan, trace=trace)
        world.run()
        invariants.check(world)
        refund_invariants.check(world)
    return Result(
        seed=seed,
        violations=tuple(world.violations),
        buyer_hours=_buyer_hours(plan),
        steps=world.scheduler.steps,
        injected=dict(world.faults.injected),
        trace=tuple(world.trace or ()),
    )


def _buyer_hours(plan: Plan) -> float:
    hours = 0.0
    for buyer in plan.buyers:
        until = buyer.leaves or plan.end
        hours += max(0.0, (until - buyer.subscribes).total_seconds() / 3600)
    return hours


def _run_range(args: tuple[int, int, str | None, bool, bool, bool, bool, bool]) -> list[Result]:
    first, count, mutant, refunds, only, settings, stops, returns = args
    seeds = range(first, first + count)
    return [
        simulate(seed, mutant=mutant, refunds=refunds, settings=settings, stops=stops, returns=returns)
        for seed in seeds
        if not only or draw(seed, refunds=True).refunds
    ]


def many(
    first: int,
    count: int,
    *,
    jobs: int = 0,
    mutant: str | None = None,
    chunk: int = 25,
    stop_at_first: bool = False,
    refunds: bool = False,
    refund_worlds_only: bool = False,
    settings: bool = False,
    stops: bool = False,
    returns: bool = False,
) -> Iterator[Result]:
    """Seeds ``first`` .. ``first + count - 1`` over ``jobs`` processes (every core by default), in chunks;
    ``refunds``: some worlds draw an outsider's over-billing and the operator's refunds; ``refund_worlds_only``: only
    those run; ``settings``: the stack's settings drawn per seed; ``stops``: emergency stops drawn; ``returns``: quick
    returns drawn."""
    jobs = jobs or os.cpu_count() or 1
    chunks = [
        (
            start,
            min(chunk, first + count - start),
            mutant,
            refunds or refund_worlds_only,
            refund_worlds_only,
            settings,
            stops,
            returns,
        )
        for start in range(first, first + count, chunk)
    ]
    if jobs == 1:
        for args in chunks:
            results = _run_range(args)
            yield from results
            if stop_at_first and any(r.violations for r in results):
                return
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for results in pool.map(_run_range, chunks):
            yield from results
            if stop_at_first and any(r.violations for r in results):
                pool.shutdown(cancel_futures=True)
                return


class Progress:
    """A progress bar on stderr: seeds done, their rate, failures so far."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.failures = 0
        self.started = time.monotonic()
        self.enabled = enabled and sys.stderr.isatty()
        self._shown = 0.0

    def add(self, result: Result) -> None:
        self.done += 1
        self.failures += bool(result.violations)
        now = time.monotonic()
        if self.enabled and (now - self._shown > 0.2 or self.done == self.total):
            self._shown = now
            width = 30
            filled = int(width * self.done / max(1, self.total))
            rate = self.done / max(1e-9, now - self.started)
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done:,}/{self.total:,} seeds "
                f"{rate:,.0f}/s  failures: {self.failures}"
            )
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
