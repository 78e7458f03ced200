"""One simulated clock and a deterministic scheduler of actors (greenlets), one random source deciding everything.

Each actor is a greenlet running our real code. It gives control back only at the points our fakes of its ports mark
(``Scheduler.port``: before and after each port call) or when it sleeps (backoff, the rate limiter, a call's latency);
the scheduler then runs whichever actor's time comes next, ties broken by the world's random source. So a run is a
function of its seed alone, and every port call is a place where another actor may run, a fault may be injected, or
the invocation may be killed.

A killed invocation (a Lambda that timed out, a crash) never runs again: the greenlets of it are unwound with
``Killed``, and every port call they would make on the way (``finally`` blocks included) raises ``Killed`` before it
has any effect, as a process that is gone has none.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from greenlet import getcurrent, greenlet


class Killed(BaseException):
    """The invocation this actor belongs to was killed: nothing more of it runs."""


@dataclass(eq=False)
class Actor:
    name: str
    kind: str  # api | flush | lifecycle | producer | world: what a kill means for it
    root: Actor | None = None  # the invocation it runs in (None: it is one)
    glet: greenlet | None = None
    dead: bool = False
    done: bool = False
    error: BaseException | None = None
    children: list[Actor] = field(default_factory=list)
    waiters: list[Actor] = field(default_factory=list)
    result: Any = None
    # which suspension a wake-up is for: a wake-up left over from an earlier one (a join's timeout) is ignored
    suspension: int = 0
    # its own random source, from the world's seed and its name: removing another actor (shrinking) changes none of
    # this one's draws
    rng: random.Random = field(default_factory=random.Random)
    spawned: int = 0
    key: str = ""

    @property
    def invocation(self) -> Actor:
        return self.root or self


class SimClock:
    """``functions.clock.Clock`` on the scheduler's time."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def now(self) -> datetime:
        return self._scheduler.now


FaultHook = Callable[["Actor", str, str], None]


class ActorRandom(random.Random):
    """A random source that draws from the current actor's own (the world's when no actor runs): what our code is
    handed where it takes one (``Backoff.rng``)."""

    def __init__(self, scheduler: Scheduler) -> None:
        super().__init__(0)
        self._scheduler = scheduler

    def random(self) -> float:
        actor = self._scheduler.current()
        return (actor.rng if actor is not None else self._scheduler.base).random()


class Scheduler:
    def __init__(self, seed: int, start: datetime) -> None:
        self.seed = seed
        self.base = random.Random(f"{seed}/world")
        self.random = ActorRandom(self)
        self.now = start
        self.clock = SimClock(self)
        self.steps = 0
        self._heap: list[tuple[datetime, float, int, Actor, int]] = []
        self._seq = 0
        self._actors: dict[greenlet, Actor] = {}
        self.all: list[Actor] = []
        self._main = getcurrent()
        # called at every port call, before and after it (phase): may raise a fault, kill, or sleep
        self.fault: FaultHook = lambda actor, port, phase: None
        self.after_step: Callable[[], None] = lambda: None
        self.last: Actor | None = None  # the actor that ran last
        self.log: Callable[[str], None] | None = None

    # actors
    def spawn(
        self, name: str, kind: str, body: Callable[[], Any], *, at: datetime | None = None, child: bool = False
    ) -> Actor:
        """A new actor starting at ``at`` (now by default); ``child``: it runs in the current actor's invocation (a
        thread of it), killed with it."""
        parent = self.current() if child else None
        actor = Actor(name, kind, root=parent.invocation if parent else None)
        if parent is not None:
            parent.invocation.children.append(actor)
        spawner = self.current()
        if spawner is None:  # the world's own (the plan's actions): named uniquely
            actor.key = f"{self.seed}/{name}"
        else:
            spawner.spawned += 1
            actor.key = f"{spawner.key}/{spawner.spawned}:{name}"
        actor.rng = random.Random(actor.key)

        def run() -> None:
            try:
                actor.result = body()
            except Killed:
                actor.dead = True
            except BaseException as error:
                actor.error = error
            finally:
                self._finished(actor)

        actor.glet = greenlet(run, parent=self._main)
        self._actors[actor.glet] = actor
        self.all.append(actor)
        self._push(actor, at or self.now)
        return actor

    def current(self) -> Actor | None:
        return self._actors.get(getcurrent())

    def _push(self, actor: Actor, when: datetime) -> None:
        heapq.heappush(self._heap, (when, actor.rng.random(), self._seq, actor, actor.suspension))
        self._seq += 1

    def _finished(self, actor: Actor) -> None:
        actor.done = True
        for waiter in actor.waiters:
            self._push(waiter, self.now)
        actor.waiters.clear()

    # what actors call
    def port(self, name: str, phase: str) -> None:
        """A port call's ``phase`` (before | after): a point where anything may happen."""
        actor = self._alive()
        if actor is None:
            return
        self.fault(actor, name, phase)

    def sleep(self, seconds: float) -> None:
        actor = self._alive()
        if actor is None:
            raise RuntimeError("sleep outside an actor")
        actor.suspension += 1
        self._push(actor, self.now + timedelta(seconds=max(0.0, seconds)))
        self._main.switch()
        self._alive()

    def join(self, other: Actor, timeout: float | None = None) -> bool:
        """Wait for ``other`` to finish (True) or ``timeout`` seconds to pass (False)."""
        actor = self._alive()
        if actor is None:
            raise RuntimeError("join outside an actor")
        if other.done:
            return True
        actor.suspension += 1
        other.waiters.append(actor)
        if timeout is not None:
            self._push(actor, self.now + timedelta(seconds=timeout))
        self._main.switch()
        self._alive()
        if not other.done and actor in other.waiters:
            other.waiters.remove(actor)
        return other.done

    def kill(self, invocation: Actor) -> None:
        """Kill an invocation and every thread of it; the current actor, if one of them, stops at once."""
        for actor in (invocation, *invocation.children):
            actor.dead = True
        if self.current() in (invocation, *invocation.children):
            raise Killed

    def _alive(self) -> Actor | None:
        actor = self.current()
        if actor is not None and actor.dead:
            raise Killed
        return actor

    # the loop
    def run(self, until: datetime) -> None:
        """Run every actor whose time comes before ``until``, in time order; the clock ends at ``until``."""
        while self._heap and self._heap[0][0] <= until:
            when, _, _, actor, suspension = heapq.heappop(self._heap)
            if actor.done or suspension != actor.suspension:
                continue
            self.now = max(self.now, when)
            assert actor.glet is not None
            if actor.dead:
                self._unwind(actor)
                continue
            self.steps += 1
            self.last = actor
            actor.glet.switch()
            self.after_step()
        self.now = max(self.now, until)

    def _unwind(self, actor: Actor) -> None:
        assert actor.glet is not None
        if actor.glet:  # started and suspended: unwound, every port call on the way refused
            actor.glet.throw(Killed)
        else:  # never started
            self._finished(actor)

    def unwind_the_dead(self) -> list[Actor]:
        """At the end: unwind killed actors still suspended; the living that never finished are returned (stuck)."""
        stuck = []
        for actor in self.all:
            if actor.done:
                continue
            if actor.dead:
                self._unwind(actor)
            elif actor.glet:  # started, suspended, never woken (an actor not started yet is only in the future)
                stuck.append(actor)
        return stuck


class SimFuture(Future[Any]):
    """A call in flight on one of the flush's workers: ``result()`` waits on the scheduler, not on a thread."""

    def __init__(self, scheduler: Scheduler, actor: Actor) -> None:
        super().__init__()
        self._scheduler = scheduler
        self._actor = actor

    def result(self, timeout: float | None = None) -> Any:
        self._scheduler.join(self._actor)
        if self._actor.dead:
            raise Killed
        if self._actor.error is not None:
            raise self._actor.error
        return self._actor.result


class SimExecutor(Executor):
    """``concurrent.futures.Executor`` whose workers are actors of the invocation that made it (the flush's
    ``FlushDeps.executor``): at most ``max_workers`` calls run at once, as in a thread pool."""

    def __init__(self, scheduler: Scheduler, max_workers: int) -> None:
        self._scheduler = scheduler
        self._max_workers = max_workers
        self._running: list[Actor] = []
        self._submitted: list[Actor] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def work() -> Any:
            # queued until a worker is free, as in a thread pool: the submitter goes on at once
            while len(self._running) >= self._max_workers:
                self._scheduler.join(self._running[0])
                self._running = [a for a in self._running if not a.done]
            self._running.append(actor)
            try:
                return fn(*args, **kwargs)
            finally:
                self._running.remove(actor)

        actor = self._scheduler.spawn(f"worker{len(self._submitted)}", "worker", work, child=True)
        self._submitted.append(actor)
        return SimFuture(self._scheduler, actor)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if wait:
            for actor in self._submitted:
                self._scheduler.join(actor)
