"""A world drawn from a seed: its product, its buyers' lives in AWS Marketplace, what their producers send and when, the
flush's schedule, and how hostile its infrastructure is. A plan is data: the shrinker removes actions from it, and
a plan with the same seed and the same actions runs the same way every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.flush.service import MONTH_END_CUTOFF, MONTH_END_RUNS_EVERY
from functions.settings import Dimension, Product, Settings
from operations.reconcile import PLACED_FROM
from operations.refund_settlement import SETTLE_AFTER
from sim.faults import FaultProfile
from stacks.config import FINAL_SEND_SECONDS, AppConfig
from stacks.schedule import longest_gap

SELLER_ACCOUNT = "123456789012"
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
FLUSH_TIMEOUT = timedelta(seconds=900)  # the longest a flush run may take (its Lambda timeout)
FINAL_HOUR_SECONDS = 3600.0  # a leave's closing message comes "about one hour" after its opening one

# where worlds start: an ordinary day, the last hours of a month (Marketplace's month-end cutoff), of a year
_STARTS = (
    datetime(2026, 11, 24, 0, tzinfo=UTC),
    datetime(2026, 11, 30, 17, tzinfo=UTC),
    datetime(2026, 12, 31, 18, tzinfo=UTC),
)


@dataclass(frozen=True)
class Buyer:
    """One licence: a buyer's subscription to the product, as Marketplace sees it."""

    n: int
    account: str
    licence_id: str
    agreement_id: str
    subscribes: datetime
    registers: datetime
    leaves: datetime | None = None
    ended_first: bool = True  # the seller guide's order (Ended, then Deprovisioned an hour later); else AWS's 2026 one
    renews: datetime | None = None
    renewal_agreement_id: str | None = None
    # a future-dated renewal: accepted at ``renews`` (its Purchase Agreement Created then), holding the licence from
    # this start on (refund worlds only); None: it starts when accepted
    renewal_starts: datetime | None = None
    # a legacy product's buyer: named by this identifier (reused when they subscribe again), notified over SNS
    identifier: str | None = None

    @property
    def license_arn(self) -> str:
        return f"arn:aws:license-manager::{SELLER_ACCOUNT}:license:{self.licence_id}"

    @property
    def customer(self) -> str:
        """How Marketplace names them in a usage record: their licence, or their legacy identifier."""
        return self.identifier or self.license_arn

    @property
    def name(self) -> str:
        return f"buyer{self.n}"


@dataclass(frozen=True)
class Event:
    """A usage event as a producer makes it. ``stamp``: how its timestamp is chosen when it is made: ``recent``
    (``offset`` seconds ago), ``late`` (hours ago), ``none`` (no timestamp: the server's clock), ``before_licence``
    (``offset`` seconds before the buyer subscribed), ``future`` (``offset`` seconds ahead)."""

    event_id: str
    dimension: str
    quantity: int | str
    stamp: str
    offset: float
    # UsageAllocations: (the ``team`` tag's value, its part of the quantity), the parts adding up to the quantity
    allocations: tuple[tuple[str, int | str], ...] = ()


@dataclass(frozen=True)
class Action:
    id: int
    at: datetime
    kind: (
        str  # subscribe | register | renew | renewal-start | amend | leave | batch | resend | flush | overbill | adjust
        # | settle
    )
    buyer: int | None = None
    events: tuple[Event, ...] = ()
    # batch: how a retry resends (identical | restamp); resend: identical | restamp | changed; adjust: plain | lost
    # (its refund's answer lost) | unsent (its refunds never reach AWS) | killed (midway) | final (after the world
    # healed, over its whole span); settle: plain | killed
    style: str = "identical"
    made: datetime | None = None  # resend: when its events were made (their first batch)
    scheduled: bool = False  # the flush's hourly schedule: infrastructure, never shrunk away
    window: tuple[datetime, datetime] | None = None  # adjust: the hours it reads (--from, --to)

    def describe(self) -> str:
        what = f"#{self.id} {self.at:%m-%d %H:%M:%S} {self.kind}"
        if self.buyer is not None:
            what += f" buyer{self.buyer}"
        if self.events:
            what += " [" + ", ".join(f"{e.event_id} {e.dimension}={e.quantity} {e.stamp}" for e in self.events) + "]"
        if self.kind in ("batch", "resend"):
            what += f" ({self.style}" + (f", made {self.made:%H:%M:%S})" if self.made else ")")
        if self.window is not None:
            what += f" {self.window[0]:%m-%d %H}h..{self.window[1]:%m-%d %H}h ({self.style})"
        if self.scheduled:
            what += " (schedule)"
        return what


@dataclass(frozen=True)
class Plan:
    seed: int
    start: datetime
    product: Product
    buyers: tuple[Buyer, ...]
    actions: tuple[Action, ...]
    faults: FaultProfile
    flush_timeout_seconds: float
    notification_delay_seconds: float  # at most: EventBridge and SQS deliver within this
    duplicate_rate: float  # of notifications delivered twice
    outage: tuple[datetime, datetime] | None  # no scheduled flush runs in between
    incident: tuple[datetime, datetime] | None  # Marketplace answers no call in between
    end: datetime  # quiet for hours before it: everything due is done by then
    quiet_from: datetime  # faults stop (the world heals)
    # an outsider bills the buyers too, and the operator refunds what was over-billed (cli adjust)
    refunds: bool = False
    # the stack's settings: synth's defaults, or drawn per seed among those synth accepts (``draw(settings=True)``)
    settings: Settings = field(default_factory=lambda: Settings())
    flush_every: timedelta = HOUR  # the flush's schedule: rate(...)
    # the stack rehearses (metering_mode dry-run: the seller's old integration bills) until it goes live then
    go_live: datetime | None = None
    # an emergency stop: the operator deploys dry-run (the old integration bills again) and goes live again later
    emergency: tuple[datetime, datetime] | None = None
    # how far off the hour after a leave AWS stamps the message closing it (a legacy unsubscribe-success; a License
    # Deprovisioned after the Ended that opened the hour), in seconds, per leaving buyer's ``n``: AWS promises "about
    # one hour", stamped to the millisecond (``_closing``); a buyer not named: exactly the hour, as worlds drew before
    closing: tuple[tuple[int, float], ...] = ()

    def closes_after(self, buyer: int) -> float:
        """Seconds from a buyer's leave to the stamp of the message closing their final hour."""
        return FINAL_HOUR_SECONDS + dict(self.closing).get(buyer, 0.0)

    def dry_run_at(self, at: datetime) -> bool:
        """The stack is deployed in dry run at ``at``: rehearsing, or stopped."""
        rehearsing = self.go_live is not None and at < self.go_live
        return rehearsing or (self.emergency is not None and self.emergency[0] <= at < self.emergency[1])

    def keeping(self, ids: set[int]) -> Plan:
        return replace(self, actions=tuple(a for a in self.actions if a.id in ids or a.scheduled))

    @property
    def removable(self) -> list[int]:
        return [a.id for a in self.actions if not a.scheduled]


@dataclass
class _Draw:
    rng: random.Random
    seed: int = 0
    actions: list[Action] = field(default_factory=list)
    events: int = 0
    of_buyer: dict[int, int] = field(default_factory=dict)
    # producers that number their events per buyer (two customers' events then share ids) or across all
    shared_ids: bool = False

    def add(self, at: datetime, kind: str, **fields: object) -> None:
        self.actions.append(Action(len(self.actions), at, kind, **fields))  # type: ignore[arg-type]

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))


def draw(
    seed: int,
    *,
    refunds: bool = False,
    settings: bool = False,
    stops: bool = False,
    rehearsals: bool = True,
    returns: bool = False,
) -> Plan:
    """``refunds``: some worlds (``REFUND_WORLDS``) draw an outsider's over-billing and the operator's refunds
    (``python -m sim`` draws them unless ``--no-refunds``; False here: each seed of an earlier bug as it was found).
    ``settings``: the stack's settings drawn too (``--random-settings``), else its defaults. ``stops``: some worlds
    that neither refund nor go live draw an emergency stop (``--emergency-stops``). ``rehearsals=False``: no world
    goes live (each seed as drawn before they were: the seeds of earlier bugs). ``returns``: half the buyers back come
    back and leave again within the final hour they left (``--quick-returns``, ``_quick_returns``)."""
    rng = random.Random(seed)
    configured = _settings(random.Random(f"{seed}/settings")) if settings else AppConfig(settings=Settings())
    flush_every = longest_gap(configured.flush_schedule)
    d = _Draw(rng, seed, shared_ids=rng.random() < 0.5)
    start = rng.choice(_STARTS) + timedelta(minutes=rng.randrange(0, 6 * 60))
    product = _product(rng)
    # a quarter of the worlds sell a legacy product (customer identifiers, SNS): a stream of its own, so the worlds
    # drawn before are drawn the same
    if random.Random(f"{seed}/legacy").random() < 0.25:
        product = replace(product, customer_mode="legacy", legacy_sns=True)
    activity_end = start + timedelta(hours=rng.uniform(5, 8))
    buyers = _buyers(d, start, activity_end)
    if returns:
        buyers = _quick_returns(random.Random(f"{seed}/quick-return"), buyers, activity_end)
    if product.customer_mode == "legacy":
        # one identifier per account (reused by a buyer who subscribes again), subscribed once at a time: a buyer back
        # only after their last subscription was left; no concurrent licences, no agreements
        firsts: dict[str, Buyer] = {}
        latest: dict[str, Buyer] = {}
        kept: set[int] = set()
        for buyer in sorted(buyers, key=lambda b: b.subscribes):
            firsts.setdefault(buyer.account, buyer)
            before = latest.get(buyer.account)
            if before is None or (before.leaves is not None and before.leaves < buyer.subscribes):
                latest[buyer.account] = buyer
                kept.add(buyer.n)
        buyers = [replace(b, identifier=f"cust-{firsts[b.account].n:03d}", renews=None) for b in buyers if b.n in kept]
    else:
        # a buyer back on a licence product is, in some worlds, back on their licence under a new agreement (its
        # License Updated names it), in others on a new licence: AWS's sources leave both open (attacks 44-46 took the
        # first by hand; a stream of its own, so the worlds drawn before stay so)
        same = random.Random(f"{seed}/same-licence")
        first = {b.n: b for b in buyers}
        buyers = [
            replace(b, licence_id=first[b.n - BACK].licence_id) if BACK < b.n < 2 * BACK and same.random() < 0.5 else b
            for b in buyers
        ]
    for buyer in buyers:
        _life(d, buyer)
        _producer(d, buyer, product, activity_end)
    # some leaving buyers use the most in their final hour, over one record's maximum: what it carries on is billed
    # in their earlier hours (a stream of its own: the worlds drawn before stay so)
    heavy = random.Random(f"{seed}/heavy")
    for buyer in buyers:
        if buyer.leaves is not None and heavy.random() < 0.3:
            events = tuple(
                Event(f"{buyer.name}-h{k}", "calls", heavy.randint(1_200_000_000, 2_000_000_000), "recent", 0.0)
                for k in range(heavy.randint(2, 3))
            )
            d.add(
                buyer.leaves + timedelta(minutes=heavy.uniform(1, 40)),
                "batch",
                buyer=buyer.n,
                events=events,
                style="identical",
            )
    # three in ten worlds' producers tag their usage (UsageAllocations): a stream of its own, the worlds drawn before
    # stay so
    tagging = random.Random(f"{seed}/allocations")
    if tagging.random() < 0.3:
        d.actions = _tagged(tagging, d.actions)
    outage = None
    if rng.random() < 0.05:
        begins = start + d.minutes(30, 240)
        outage = (begins, begins + timedelta(hours=rng.uniform(2, 28)))
    # a fifth of the worlds see Marketplace down for a while (a stream of its own: the worlds drawn before stay so)
    incident = None
    incidents = random.Random(f"{seed}/incident")
    if incidents.random() < 0.2:
        begins = start + timedelta(minutes=incidents.uniform(30, (activity_end - start).total_seconds() / 60))
        incident = (begins, begins + timedelta(minutes=incidents.uniform(10, 150)))
    quiet_from = max(activity_end, outage[1] if outage else activity_end, incident[1] if incident else activity_end)
    # three in ten worlds see an outsider over-bill their buyers and the operator refund it (a stream of its own: the
    # worlds drawn before stay so, but for the prices their dimensions list)
    refunding = random.Random(f"{seed}/refunds")
    refunds = refunds and refunding.random() < REFUND_WORLDS
    # some worlds without refunds begin in the rehearsal every seller starts with (docs/go-live.md) and go live while
    # buyers use the product (a stream of its own: the worlds drawn before stay so)
    going = random.Random(f"{seed}/go-live")
    go_live = None
    if rehearsals and not refunds and going.random() < GO_LIVE_WORLDS:
        go_live = start + timedelta(minutes=going.uniform(20, (activity_end - start).total_seconds() / 60))
    emergency = None
    stopping = random.Random(f"{seed}/emergency-stop")
    if stops and not refunds and go_live is None and stopping.random() < STOP_WORLDS:
        begins = start + timedelta(minutes=stopping.uniform(20, (activity_end - start).total_seconds() / 60))
        emergency = (begins, begins + timedelta(minutes=stopping.uniform(20, 6 * 60)))
        quiet_from = max(quiet_from, emergency[1])  # live again before the world heals: its runs catch up
    # an hour is refunded once what was due in it is final (operations.adjust, 25 hours after it): a world with refunds
    # runs on until every hour of its activity is
    # and a slower schedule's longer waits: two more runs, as an hourly one has in its last hours (one may be skipped,
    # and the next reconciles what it sent)
    end = quiet_from + (PLACED_FROM + 2 * HOUR if refunds else timedelta(hours=6)) + 2 * (max(HOUR, flush_every) - HOUR)
    _flushes(d, start, end, outage, activity_end, flush_every)
    if refunds:
        product = _priced(refunding, product)
        _refunds(d, refunding, product, buyers, start, activity_end, end)
        buyers = _future_dated(d, buyers, activity_end)
        end = _settles(d, random.Random(f"{seed}/settle"), start, end, flush_every)
    actions = sorted(d.actions, key=lambda a: (a.at, a.id))
    return Plan(
        seed=seed,
        start=start,
        product=product,
        buyers=tuple(buyers),
        actions=tuple(actions),
        faults=FaultProfile.draw(rng),
        flush_timeout_seconds=FLUSH_TIMEOUT.total_seconds() if rng.random() < 0.8 else rng.uniform(70, 240),
        notification_delay_seconds=rng.choice((2, 60, 600, 1200)),
        duplicate_rate=rng.choice((0.0, 0.1, 0.3)),
        outage=outage,
        incident=incident,
        end=end,
        quiet_from=quiet_from,
        refunds=refunds,
        settings=replace(configured.settings, products=(product,), metering_mode="live", lifecycle_queue_url="sim"),
        flush_every=flush_every,
        go_live=go_live,
        emergency=emergency,
        closing=_closing(random.Random(f"{seed}/closing"), buyers),
    )


def _settings(rng: random.Random) -> AppConfig:
    """Settings a seller may deploy, drawn: each checked by synth's own validation (``stacks/config.py``), so a world
    runs only what ``cdk synth`` accepts."""
    delay = rng.randint(60, 900)
    return AppConfig(
        flush_schedule=rng.choice(
            ("rate(10 minutes)", "rate(30 minutes)", "rate(1 hour)", "rate(3 hours)", "rate(6 hours)")
        ),
        settings=Settings(
            flush_grace_seconds=rng.choice((0, 30, 120, 300, 900, 1800, 3600)),
            metering_calls_per_second=Decimal(rng.choice(("1", "2.5", "10", "40"))),
            audit_retention_days=rng.choice((2, 3, 30, 400)),
            final_usage_delay_seconds=delay,
            final_usage_cutoff_seconds=rng.randint(0, 3600 - FINAL_SEND_SECONDS - delay - 1),
        ),
    )


REFUND_WORLDS = 0.3
GO_LIVE_WORLDS = 0.2
STOP_WORLDS = 0.3
CLOSING_WORLDS = 0.5


def _closing(rng: random.Random, buyers: list[Buyer]) -> tuple[tuple[int, float], ...]:
    """In half the worlds (``CLOSING_WORLDS``), each leave's closing message is stamped off the hour after its opening
    one: AWS promises "about one hour" (marketplace-api.md: unsubscribe-pending "about one hour left to send final
    records"), stamped to the millisecond, never exactly 3,600 s on. Mostly within five minutes either side, one in five
    5 to 20 minutes late (beyond ``ABOUT_AN_HOUR``, the product's pairing of a success to a pending's hour). A stream of
    its own, so the worlds drawn before stay so; the other half close exactly on the hour, as every world did before."""
    if rng.random() >= CLOSING_WORLDS:
        return ()
    offsets = []
    for buyer in sorted(buyers, key=lambda b: b.n):
        if buyer.leaves is None:
            continue
        late = rng.random() < 0.2
        offsets.append((buyer.n, round(rng.uniform(300, 1200) if late else rng.uniform(-300, 300), 3)))
    return tuple(offsets)


def _future_dated(d: _Draw, buyers: list[Buyer], activity_end: datetime) -> list[Buyer]:
    """Half the renewals of a refund world are future-dated: created when accepted, holding the licence from a start
    30 minutes to 5 hours later (its ``renewal-start``), so which agreement held an hour is told by the start, not by
    the Created (a stream of its own per buyer: the rest of the world is drawn as before)."""
    dated = []
    for buyer in buyers:
        rng = random.Random(f"{d.seed}/future-dated/{buyer.n}")
        if buyer.renews is not None and rng.random() < 0.5:
            starts = buyer.renews + timedelta(minutes=rng.uniform(30, 300))
            if starts < (buyer.leaves or activity_end) - 10 * MINUTE:
                buyer = replace(buyer, renewal_starts=starts)
                d.add(starts, "renewal-start", buyer=buyer.n)
        dated.append(buyer)
    return dated


_PRICES = ("0.01", "0.001", "0.25", "2", "0.0035")


def _priced(rng: random.Random, product: Product) -> Product:
    """The dimensions' list prices (cdk.json's ``price``): what a refund's amount is worked out from."""
    return replace(product, dimensions=tuple(replace(d, price=rng.choice(_PRICES)) for d in product.dimensions))


def _refunds(
    d: _Draw,
    rng: random.Random,
    product: Product,
    buyers: list[Buyer],
    start: datetime,
    activity_end: datetime,
    end: datetime,
) -> None:
    """An outsider billing buyers in hours they used nothing or some (``overbill``: the event's ``offset`` is how many
    hours back from the hour it is made in; some sent again as they were), and the operator's ``cli adjust --send``
    runs: at random times over random windows, some twice (at once or later), some killed midway or losing their
    refund's answer; and one final run over the whole span once the world has healed (never shrunk away)."""
    if not buyers:
        return
    for k in range(rng.randint(1, 6)):
        buyer = rng.choice(buyers)
        dimension = rng.choice(product.dimensions)
        quantity: int | str = (
            f"{rng.randint(0, 30)}.{rng.randint(1, 999):03d}".rstrip("0")
            if dimension.quantity_type == "decimal"
            else rng.randint(1, 500)
        )
        at = buyer.subscribes + timedelta(seconds=rng.uniform(0, (activity_end - buyer.subscribes).total_seconds()))
        back = rng.choice((0, 0, 0, 1, 2, 6))
        event = Event(f"outsider-{k}", dimension.name, quantity, "recent", float(back))
        d.add(at, "overbill", buyer=buyer.n, events=(event,))
        if rng.random() < 0.2:  # its call sent again as it was (an SDK's retry after a lost answer): billed once
            again = at + timedelta(seconds=rng.uniform(1, 600))
            d.add(again, "overbill", buyer=buyer.n, events=(event,), style="identical", made=at)
    for _ in range(rng.randint(1, 4)):
        at = start + timedelta(seconds=rng.uniform(3600, (end - start).total_seconds() - 3600))
        since = start - HOUR + timedelta(seconds=rng.uniform(0, (at - start).total_seconds()))
        until = min(at, since + timedelta(hours=rng.uniform(0, 30)))
        style = rng.choices(("plain", "lost", "killed"), (0.6, 0.2, 0.2))[0]
        d.add(at, "adjust", window=(since, until), style=style)
        if rng.random() < 0.3:  # run again: at once (two terminals), or later
            again = at + (timedelta(seconds=rng.uniform(0, 3)) if rng.random() < 0.5 else d.minutes(5, 180))
            # before the final run, and with time to finish before the world ends (seed 143093 drew one at its end)
            again = min(again, end - 30 * MINUTE)
            d.add(again, "adjust", window=(since, until), style=rng.choice(("plain", "plain", "lost", "killed")))
    d.add(end - 20 * MINUTE, "adjust", window=(start - HOUR, end), style="final", scheduled=True)


def _settles(d: _Draw, rng: random.Random, start: datetime, end: datetime, flush_every: timedelta) -> datetime:
    """The operator's ``cli adjust --settle --send`` runs (a stream of its own: the worlds drawn before stay so): at
    random times, some beside a ``cli adjust`` run of the plan (two terminals), some killed midway; in half the worlds
    a run over the whole span late in the world losing its refunds' answers, never reaching AWS, or killed midway,
    settled a little later, before the final run; and in a quarter the final run's refunds never reach AWS, a settle a
    day later finds AWS never took them (void), and another final run refunds their hours. The world's end (later in
    those)."""
    if rng.random() < 0.5:
        lost = end - timedelta(hours=rng.uniform(3, 8))
        d.add(lost, "adjust", window=(start - HOUR, end), style=rng.choice(("lost", "unsent", "killed")))
        d.add(lost + timedelta(minutes=rng.uniform(1, 120)), "settle", style="plain")
    if rng.random() < 0.25:
        final = next(a for a in d.actions if a.kind == "adjust" and a.style == "final")
        d.actions[d.actions.index(final)] = replace(final, style="unsent")
        settle = final.at + SETTLE_AFTER + timedelta(minutes=rng.uniform(1, 60))
        d.add(settle, "settle", style="plain", scheduled=True)
        before, end = end, settle + 2 * HOUR
        d.add(end - 20 * MINUTE, "adjust", window=final.window, style="final", scheduled=True)
        _schedule_on(d, before, end, flush_every)
    adjusts = [a.at for a in d.actions if a.kind == "adjust"]
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        if adjusts and rng.random() < 0.4:
            at = rng.choice(adjusts) + timedelta(seconds=rng.uniform(0, 3))
        else:
            at = start + timedelta(seconds=rng.uniform(3600, (end - start).total_seconds() - 1800))
        d.add(at, "settle", style=rng.choices(("plain", "killed"), (0.8, 0.2))[0])
    return end


def _product(rng: random.Random) -> Product:
    dimensions = [Dimension("calls")]
    if rng.random() < 0.5:
        dimensions.append(Dimension("gb", quantity_type="decimal"))
    if rng.random() < 0.3:
        dimensions.append(Dimension("seats"))
    return Product(
        code="sim-product",
        name="Simulated",
        id="prod-sim",
        dimensions=tuple(dimensions),
        zero_usage_records=rng.random() < 0.2,
    )


BACK = 10  # buyer n's subscription again, after they left, is buyer n + BACK


def _buyers(d: _Draw, start: datetime, activity_end: datetime) -> list[Buyer]:
    rng = d.rng
    buyers: list[Buyer] = []
    for n in range(1, rng.randint(1, 3) + 1):
        account = f"{200000000000 + n:012d}"
        subscribes = start + d.minutes(0, 120)
        buyers.append(_buyer(d, n, account, subscribes, activity_end))
        last = buyers[-1]
        if last.leaves is not None and rng.random() < 0.25:  # the same account subscribes again: a new licence
            again = last.leaves + d.minutes(5, 90)
            if again < activity_end - HOUR:
                buyers.append(_buyer(d, n + BACK, account, again, activity_end))
        # Concurrent Agreements: the account takes a second licence while the first lives (a stream of its own: the
        # worlds drawn before it are drawn the same)
        concurrent = random.Random(f"{d.seed}/concurrent/{n}")
        if concurrent.random() < 0.15:
            also = subscribes + timedelta(minutes=concurrent.uniform(10, 120))
            if also < activity_end - HOUR:
                buyers.append(_buyer(d, n + 20, account, also, activity_end))
    return buyers


QUICK_RETURNS = 0.5


def _quick_returns(rng: random.Random, buyers: list[Buyer], activity_end: datetime) -> list[Buyer]:
    """Half the buyers back (``BACK``) come back within the final hour of the leave before (2 to 25 minutes after it)
    and leave again within it (by 58 minutes after it), before that leave's closing message: the order in which a legacy
    identifier's two pendings and two successes cross (attacks 44, 45, 72), which buyers back 5 to 90 minutes later for
    40 minutes or more almost never drew (2 worlds in 20,000). A stream of its own; a world drawing one draws the rest
    of its actions anew (its producers' events follow the new times), the others stay as drawn."""
    first = {b.n: b for b in buyers}
    quick = []
    for buyer in buyers:
        before = first.get(buyer.n - BACK) if BACK < buyer.n < 2 * BACK else None
        if before is not None and before.leaves is not None and rng.random() < QUICK_RETURNS:
            back = rng.uniform(2, 25)
            subscribes = before.leaves + timedelta(minutes=back)
            leaves = before.leaves + timedelta(minutes=rng.uniform(back + 5, 58))
            if leaves < activity_end - HOUR:
                registers = subscribes + min(buyer.registers - buyer.subscribes, (leaves - subscribes) / 2)
                buyer = replace(
                    buyer,
                    subscribes=subscribes,
                    registers=registers,
                    leaves=leaves,
                    renews=None,
                    renewal_agreement_id=None,
                )
        quick.append(buyer)
    return quick


def _buyer(d: _Draw, n: int, account: str, subscribes: datetime, activity_end: datetime) -> Buyer:
    rng = d.rng
    leaves = renews = None
    if rng.random() < 0.55:
        leaves = subscribes + d.minutes(40, 300)
        if leaves > activity_end - HOUR:
            leaves = None
    if rng.random() < 0.25:
        renews = subscribes + d.minutes(20, 200)
        if renews > (leaves or activity_end) - 10 * MINUTE:
            renews = None
    return Buyer(
        n=n,
        account=account,
        licence_id=f"l-{n:08x}{rng.getrandbits(64):016x}",
        agreement_id=f"agmt-{n:04d}{rng.getrandbits(64):016x}",
        subscribes=subscribes,
        registers=subscribes + timedelta(seconds=rng.uniform(20, 25 * 60)),
        leaves=leaves,
        ended_first=rng.random() < 0.5,
        renews=renews,
        renewal_agreement_id=f"agmt-{n:04d}renew{rng.getrandbits(48):012x}" if renews else None,
    )


def _life(d: _Draw, buyer: Buyer) -> None:
    d.add(buyer.subscribes, "subscribe", buyer=buyer.n)
    d.add(buyer.registers, "register", buyer=buyer.n)
    if buyer.renews is not None:
        d.add(buyer.renews, "renew", buyer=buyer.n)
    if d.rng.random() < 0.3:
        d.add(buyer.subscribes + d.minutes(5, 120), "amend", buyer=buyer.n)
    if buyer.leaves is not None:
        d.add(buyer.leaves, "leave", buyer=buyer.n)


def _producer(d: _Draw, buyer: Buyer, product: Product, activity_end: datetime) -> None:
    rng = d.rng
    stop = min(activity_end, buyer.leaves + 55 * MINUTE) if buyer.leaves else activity_end
    at = buyer.registers + d.minutes(0, 8)
    while at < stop:
        events = tuple(_event(d, buyer, product) for _ in range(rng.randint(1, 4)))
        style = "restamp" if rng.random() < 0.15 else "identical"
        d.add(at, "batch", buyer=buyer.n, events=events, style=style)
        if rng.random() < 0.2:  # the same events sent again later: just after the top of the hour, or any time
            if rng.random() < 0.5:
                again = at.replace(minute=0, second=0, microsecond=0) + HOUR + d.minutes(0, 6)
            else:
                again = at + d.minutes(1, 120)
            resend = rng.choices(("identical", "restamp", "changed"), (0.5, 0.3, 0.2))[0]
            d.add(again, "resend", buyer=buyer.n, events=events, style=resend, made=at)
        at += d.minutes(3, 30)


def _event(d: _Draw, buyer: Buyer, product: Product) -> Event:
    rng = d.rng
    d.events += 1
    dimension = rng.choice(product.dimensions)
    quantity: int | str
    if dimension.quantity_type == "decimal":
        quantity = f"{rng.randint(0, 40)}.{rng.randint(0, 999):03d}".rstrip("0").rstrip(".") or "0"
    elif rng.random() < 0.02:  # an hour over one record's maximum once summed
        quantity = rng.randint(700_000_000, 2_000_000_000)
    else:
        quantity = rng.randint(0, 50)
    stamp, offset = rng.choices(
        (
            ("recent", rng.uniform(0, 90)),
            ("late", rng.uniform(600, 6 * 3600)),
            ("none", 0.0),
            ("before_licence", rng.uniform(60, 3 * 3600)),
            ("future", rng.uniform(60, 480)),
        ),
        (0.72, 0.08, 0.08, 0.06, 0.06),
    )[0]
    d.of_buyer[buyer.n] = d.of_buyer.get(buyer.n, 0) + 1
    # shared: two customers' ids collide, never one customer's (a buyer subscribing again, n >= 10, numbers afresh)
    shared = f"e{d.of_buyer[buyer.n]}" if buyer.n < 10 else f"s{buyer.n}e{d.of_buyer[buyer.n]}"
    event_id = shared if d.shared_ids else f"{buyer.name}-e{d.events}"
    return Event(event_id, dimension.name, quantity, stamp, offset)


_TEAMS = ("blue", "green", "red", "gold")


def _tagged(rng: random.Random, actions: list[Action]) -> list[Action]:
    """The producers' events, half of them split over one to three of the ``team`` tag's values; an event sent again
    keeps its allocations (a resend changed in quantity adds to its first part)."""
    allocated: dict[tuple[int | None, str], Event] = {}
    for action in actions:
        for event in action.events:
            key = (action.buyer, event.event_id)
            if key not in allocated:
                allocated[key] = _allocated(rng, event) if rng.random() < 0.5 else event
    return [
        replace(action, events=tuple(allocated[(action.buyer, e.event_id)] for e in action.events))
        if action.events
        else action
        for action in actions
    ]


def _allocated(rng: random.Random, event: Event) -> Event:
    decimal = isinstance(event.quantity, str)
    units = round(Decimal(event.quantity) * 1000) if decimal else int(event.quantity)  # decimals in thousandths
    teams = rng.sample(_TEAMS, rng.randint(1, 3))
    if units < len(teams):
        return event
    cuts = sorted(rng.sample(range(1, units), len(teams) - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, units], strict=True)]
    return replace(
        event,
        allocations=tuple(
            (team, format(Decimal(part) / 1000, "f") if decimal else part)
            for team, part in zip(teams, parts, strict=True)
        ),
    )


def _schedule_on(d: _Draw, before: datetime, end: datetime, every: timedelta) -> None:
    """The flush's schedule on from a world's ``before`` end to its later ``end`` (no draw): ``every`` after its last
    run, and every 10 minutes on a 1st until the month-end cutoff."""
    tick = max(a.at for a in d.actions if a.kind == "flush" and a.scheduled) + every
    while tick < end - FLUSH_TIMEOUT:
        d.add(tick, "flush", scheduled=True)
        tick += every
    first = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    tick = max(first, before)
    while first > before - MONTH_END_CUTOFF and tick < min(first + MONTH_END_CUTOFF, end - FLUSH_TIMEOUT):
        d.add(tick, "flush", scheduled=True)
        tick += MONTH_END_RUNS_EVERY


def _flushes(
    d: _Draw,
    start: datetime,
    end: datetime,
    outage: tuple[datetime, datetime] | None,
    activity_end: datetime,
    every: timedelta,
) -> None:
    rng = d.rng

    def scheduled(tick: datetime) -> None:
        if outage is None or not outage[0] <= tick < outage[1]:  # the flush is out: its schedule invokes nothing
            d.add(tick, "flush", scheduled=True)

    tick = start + d.minutes(0, 60) * (every / HOUR)  # the schedule's rate, from whenever it was created
    while tick < end - FLUSH_TIMEOUT:  # each run has its time to finish before the world ends
        scheduled(tick)
        tick += every
    # and the stack's month-end schedule: every 10 minutes on the 1st until the cutoff (no draw: worlds stay as drawn)
    for first in sorted({moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0) for moment in (start, end)}):
        tick = first
        while tick < min(first + MONTH_END_CUTOFF, end - FLUSH_TIMEOUT):
            if tick >= start:
                scheduled(tick)
            tick += MONTH_END_RUNS_EVERY
    for _ in range(rng.randint(0, 3)):  # on demand (cli flush), overlapping the schedule's runs or not
        d.add(start + (activity_end - start) * rng.random(), "flush")
