"""``python -m sim`` (``make sim``): many seeds over every core with a progress bar, or one seed replayed exactly.

    python -m sim --seeds 100000            # seeds 0..99999; each failure's seed and first broken invariant
    python -m sim --seed 1234 --keep 3,8,21 # one world, only those actions of its plan, with its whole trace
    python -m sim --mutant per-hour-dedup   # the same against a deliberately broken variant (sim/mutants.py)
    python -m sim --no-refunds              # no outsider over-billing, no refunds: worlds as drawn before 2026-12-06
    python -m sim --random-settings         # the stack's settings drawn per seed among those synth accepts
    python -m sim --quick-returns           # half the buyers back come back and leave again within their final hour

A failing run is shrunk (fewer actions, fewer actors) and printed with its trace and the command that replays it.
Runs are deterministic: the world's seed decides every interleaving and fault (string hashing is pinned too).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sim.mutants import MUTANTS, QUICK_RETURN_MUTANTS, REFUND_MUTANTS
from sim.plan import draw
from sim.run import Progress, Result, many, simulate
from sim.shrink import shrink


def _keep(text: str) -> set[int]:
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError("--keep: action numbers separated by commas, e.g. 3,8,21") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n\n")[0])
    parse.add_argument("--seeds", type=_count, default=1000, help="how many seeds to run (default 1000)")
    parse.add_argument("--first", type=_count, default=0, help="the first seed (default 0)")
    parse.add_argument("--jobs", type=_count, default=0, help="processes (default: every core)")
    parse.add_argument("--seed", type=_count, help="replay this one seed, with its trace")
    parse.add_argument("--keep", type=_keep, help="with --seed: only these actions of its plan")
    parse.add_argument("--mutant", choices=sorted(MUTANTS), help="run against a deliberately broken variant")
    parse.add_argument("--no-shrink", action="store_true", help="report a failure without shrinking it")
    parse.add_argument(
        "--no-refunds",
        action="store_true",
        help="draw no outsider over-billing the buyers and no operator refunding it (cli adjust): the worlds as "
        "seeds drew them before refunds were simulated",
    )
    parse.add_argument("--refund-worlds-only", action="store_true", help="only the worlds that draw refunds")
    parse.add_argument(
        "--random-settings",
        action="store_true",
        help="draw the stack's settings per seed (flush schedule and grace, metering rate, retention, a leaving "
        "buyer's cutoff and delay) among those cdk synth accepts, instead of its defaults",
    )
    parse.add_argument(
        "--emergency-stops",
        action="store_true",
        help="some worlds (neither refunding nor going live) draw an emergency stop: live, dry-run, then live again",
    )
    parse.add_argument(
        "--quick-returns",
        action="store_true",
        help="half the buyers back come back and leave again within the final hour they left",
    )
    return parse


def replay_command(
    seed: int,
    keep: Sequence[int] | None,
    mutant: str | None,
    refunds: bool = True,
    settings: bool = False,
    stops: bool = False,
    returns: bool = False,
) -> str:
    command = (
        f"make sim SEED={seed}"
        + ("" if refunds else " NO_REFUNDS=1")
        + (" RANDOM_SETTINGS=1" if settings else "")
        + (" EMERGENCY_STOPS=1" if stops else "")
        + (" QUICK_RETURNS=1" if returns else "")
    )
    if keep is not None:
        command += f" KEEP={','.join(map(str, keep))}"
    if mutant:
        command += f" MUTANT={mutant}"
    return command


def report(
    result: Result,
    keep: Sequence[int] | None,
    mutant: str | None,
    *,
    out: list[str],
    refunds: bool = True,
    settings: bool = False,
    stops: bool = False,
    returns: bool = False,
) -> None:
    plan = draw(result.seed, refunds=refunds, settings=settings, stops=stops, returns=returns)
    kept = set(keep) if keep is not None else None
    first = result.first
    if first is None:
        out.append(f"seed {result.seed}: every invariant holds ({result.steps} steps)")
        return
    invariant, detail, at = first
    out.append(f"seed {result.seed}: FAILED at {at:%Y-%m-%d %H:%M:%S}: {invariant}")
    out.append(f"  {detail}")
    others = sorted({v[0] for v in result.violations} - {invariant})
    if others:
        out.append(f"  also broken: {'; '.join(others)}")
    out.append(
        f"world: {len(plan.buyers)} buyers, faults: {plan.faults.describe()}, flush timeout "
        f"{plan.flush_timeout_seconds:.0f}s, notifications late by up to {plan.notification_delay_seconds:.0f}s"
        + (f", flush outage {plan.outage[0]:%H:%M}-{plan.outage[1]:%d %H:%M}" if plan.outage else "")
        + (f", Marketplace down {plan.incident[0]:%H:%M}-{plan.incident[1]:%H:%M}" if plan.incident else "")
        + (f", rehearsal (dry-run) until going live at {plan.go_live:%m-%d %H:%M:%S}" if plan.go_live else "")
        + (
            f", emergency stop (dry-run) {plan.emergency[0]:%m-%d %H:%M:%S}-{plan.emergency[1]:%m-%d %H:%M:%S}"
            if plan.emergency
            else ""
        )
        + (
            ", closing messages off the hour: " + ", ".join(f"buyer{n} {offset:+.0f}s" for n, offset in plan.closing)
            if plan.closing
            else ""
        )
    )
    if settings:
        drawn = plan.settings
        out.append(
            f"settings: flush every {plan.flush_every}, grace {drawn.flush_grace_seconds}s, "
            f"{drawn.metering_calls_per_second} calls/s, retention {drawn.audit_retention_days} days, final usage "
            f"cutoff {drawn.final_usage_cutoff_seconds}s + delay {drawn.final_usage_delay_seconds}s"
        )
    out.append("actions:")
    out.extend(f"  {a.describe()}" for a in plan.actions if kept is None or a.id in kept or a.scheduled)
    if result.trace:
        out.append(f"trace ({len(result.trace)} lines):")
        out.extend(f"  {line}" for line in result.trace)
    out.append(f"replay: {replay_command(result.seed, keep, mutant, refunds, settings, stops, returns)}")


def _pin_hashing() -> None:
    """String hashing decides set order: pinned, so a seed replays the same in every process."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "sim", *sys.argv[1:]])  # noqa: S606 - the same program


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.keep is not None and args.seed is None:
        parser().error("--keep goes with --seed")
    if args.no_refunds and (args.refund_worlds_only or args.mutant in REFUND_MUTANTS):
        parser().error("--no-refunds: the refund worlds (--refund-worlds-only, a refund mutant) need refunds")
    refunds, settings, stops = not args.no_refunds, args.random_settings, args.emergency_stops
    returns = args.quick_returns or args.mutant in QUICK_RETURN_MUTANTS
    drawn = {"refunds": refunds, "settings": settings, "stops": stops, "returns": returns}
    if args.seed is not None:
        result = simulate(args.seed, keep=args.keep, trace=True, mutant=args.mutant, **drawn)
        lines: list[str] = []
        kept = sorted(args.keep) if args.keep is not None else None
        report(result, kept, args.mutant, out=lines, **drawn)
        print("\n".join(lines))
        return 1 if result.violations else 0
    progress = Progress(args.seeds, enabled=True)
    failed: list[Result] = []
    buyer_hours = 0.0
    worlds = many(
        args.first,
        args.seeds,
        jobs=args.jobs,
        mutant=args.mutant,
        refunds=refunds,
        refund_worlds_only=args.refund_worlds_only,
        settings=settings,
        stops=stops,
        returns=returns,
    )
    for result in worlds:
        progress.add(result)
        buyer_hours += result.buyer_hours
        if result.violations:
            failed.append(result)
    print(f"{progress.done:,} seeds, {buyer_hours:,.0f} buyer-hours simulated, {len(failed)} failed")
    for result in failed[:20]:
        assert result.first is not None
        print(f"  seed {result.seed}: {result.first[0]}: {result.first[1]}")
    if failed:
        first = failed[0]
        assert first.first is not None
        lines = []
        if args.no_shrink:
            result = simulate(first.seed, trace=True, mutant=args.mutant, **drawn)
            report(result, None, args.mutant, out=lines, **drawn)
        else:
            shrunk = shrink(first.seed, first.first[0], mutant=args.mutant, **drawn)
            shrunk_to = shrunk.keep
            lines.append(
                f"\nseed {first.seed} shrunk from {shrunk.actions} actions to {len(shrunk_to)} and the flush's "
                f"schedule ({shrunk.runs} runs):"
            )
            result = simulate(first.seed, keep=set(shrunk_to), trace=True, mutant=args.mutant, **drawn)
            report(result, shrunk_to, args.mutant, out=lines, **drawn)
        print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    _pin_hashing()
    sys.exit(main())
