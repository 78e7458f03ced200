"""The simulator's speed (``make sim``, docs/simulation.md): seeded worlds of our real code per second, the buyer-hours
they simulate per second, and, as the same run's reference, how much faster than real time the worlds' own clocks
run (simulated seconds per second of wall time)."""

from __future__ import annotations

import os
import time
from typing import Any

from sim.plan import draw
from sim.run import many

SEEDS = int(os.environ.get("BENCH_SIM_SEEDS", "400"))


def run() -> dict[str, Any]:
    jobs = os.cpu_count() or 1
    started = time.perf_counter()
    results = list(many(10_000, SEEDS, jobs=jobs))
    wall = time.perf_counter() - started
    failed = [r.seed for r in results if r.violations]
    buyer_hours = sum(r.buyer_hours for r in results)
    simulated = sum((p.end - p.start).total_seconds() for p in map(draw, range(10_000, 10_000 + SEEDS)))
    figures = {
        "seeds": SEEDS,
        "processes": jobs,
        "seconds": round(wall, 1),
        "worlds_per_second": round(SEEDS / wall, 1),
        "buyer_hours_per_second": round(buyer_hours / wall, 1),
        "steps_per_second": round(sum(r.steps for r in results) / wall),
        "times_real_time": round(simulated / wall),
        "failed": failed,
    }
    print(
        f"sim: {SEEDS} worlds on {jobs} processes in {wall:.1f} s: {figures['worlds_per_second']} worlds/s, "
        f"{figures['buyer_hours_per_second']:,} buyer-hours/s, {figures['steps_per_second']:,} port calls/s; "
        f"simulated time runs {figures['times_real_time']:,}x real time; failed: {failed or 'none'}"
    )
    return figures


if __name__ == "__main__":
    run()
