"""What can go wrong at a port call, and how often in one world: drawn from the world's seed, so some worlds are calm
and others hostile. The scheduler asks at every port call, before and after it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from functions.flush.records import MeteringUnavailable
from functions.storage.errors import StorageError
from operations.agreement_billing import AgreementBillingUnavailable
from sim.scheduler import Actor, Scheduler

# an invocation of these may be killed (a Lambda timing out or crashing): the API's, the flush's, the lifecycle's, and
# an operator's command (interrupted, their laptop gone)
KILLABLE = frozenset({"api", "flush", "lifecycle", "operator"})
STORAGE_PORTS = ("usage.", "ledger.", "customers.", "lifecycle_store.", "refund_claims.")
MARKETPLACE = "marketplace."
AGREEMENT = "agreement."  # the Agreement Service (cli adjust's invoices and refunds)


@dataclass(frozen=True)
class FaultProfile:
    storage_error: float = 0.0  # a storage call fails (throttled, 5xx): retryable
    kill_before: float = 0.0  # the invocation is killed before a port call
    kill_after: float = 0.0  # ... after it: its effect happened, its caller never knows
    pause: float = 0.0  # a long stall after a call (a slow network, a frozen container): 5 to 90 s
    throttle: float = 0.0  # BatchMeterUsage throttled or 5xx
    lost_answer: float = 0.0  # BatchMeterUsage committed, its answer lost
    unprocessed: float = 0.0  # a record left unprocessed
    # a usage write that lands 60 to 180 s after its acceptance, later than the in-flight margin assumes (a client
    # retrying beyond its timeouts): its hour may be sealed without it
    late_write: float = 0.0

    @classmethod
    def draw(cls, rng: random.Random) -> FaultProfile:
        kind = rng.random()
        if kind < 0.15:
            return cls()  # a calm world
        scale = 1.0 if kind < 0.85 else 4.0  # most worlds moderate, some hostile
        return cls(
            storage_error=rng.uniform(0, 0.003) * scale,
            kill_before=rng.uniform(0, 0.004) * scale,
            kill_after=rng.uniform(0, 0.004) * scale,
            pause=rng.uniform(0, 0.003) * scale,
            throttle=rng.uniform(0, 0.08) * scale,
            lost_answer=rng.uniform(0, 0.05) * scale,
            unprocessed=rng.uniform(0, 0.03) * scale,
            late_write=rng.uniform(0, 0.004) * scale if rng.random() < 0.3 else 0.0,
        )

    def describe(self) -> str:
        return ", ".join(f"{name}={value:.3f}" for name, value in self.__dict__.items() if value) or "none"


class Faults:
    """The scheduler's fault hook for one world (``Scheduler.fault``); ``calm``: the world is healing, none now.
    ``incident``: a window in which Marketplace throttles every call (an outage of its own, for minutes or hours)."""

    def __init__(
        self, scheduler: Scheduler, profile: FaultProfile, incident: tuple[datetime, datetime] | None = None
    ) -> None:
        self._scheduler = scheduler
        self.profile = profile
        self.incident = incident
        self.calm = False
        self.injected: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.injected[what] = self.injected.get(what, 0) + 1

    def __call__(self, actor: Actor, port: str, phase: str) -> None:
        scheduler, profile, rng = self._scheduler, self.profile, actor.rng
        marketplace = port.startswith((MARKETPLACE, AGREEMENT))
        unavailable = AgreementBillingUnavailable if port.startswith(AGREEMENT) else MeteringUnavailable
        killable = actor.invocation.kind in KILLABLE
        if phase == "landing":
            if not self.calm and rng.random() < profile.late_write:
                self._count("write landed late")
                self._trace(actor, f"{port}: lands late")
                scheduler.sleep(rng.uniform(60, 180))
            return
        if not self.calm:
            roll = rng.random()
            if phase == "before":
                if marketplace and self.incident and self.incident[0] <= scheduler.now < self.incident[1]:
                    self._count("Marketplace down")
                    raise _error(unavailable, "ServiceUnavailableException", "Marketplace incident (simulated)")
                if marketplace and roll < profile.throttle:
                    self._count("throttled")
                    scheduler.sleep(rng.uniform(0.01, 0.05))
                    raise _error(unavailable, "ThrottlingException", "Rate exceeded (simulated)")
                if port.startswith(STORAGE_PORTS) and roll < profile.storage_error:
                    self._count("storage error")
                    raise StorageError(f"{port}: throttled (simulated)", code="ThrottlingException", retryable=True)
                if killable and rng.random() < profile.kill_before:
                    self._count("killed before a call")
                    self._trace(actor, f"killed before {port}")
                    scheduler.kill(actor.invocation)
            else:
                if marketplace and roll < profile.lost_answer:
                    self._count("answer lost")
                    scheduler.sleep(rng.uniform(1, 5))
                    raise _error(unavailable, "RequestTimeout", "no answer (simulated): the call took effect")
                if killable and rng.random() < profile.kill_after:
                    self._count("killed after a call")
                    self._trace(actor, f"killed after {port}")
                    scheduler.kill(actor.invocation)
                if rng.random() < profile.pause:
                    self._count("paused")
                    scheduler.sleep(rng.uniform(5, 90))
        scheduler.sleep(_latency(port, rng))

    def _trace(self, actor: Actor, text: str) -> None:
        if self._scheduler.log is not None:
            self._scheduler.log(f"[{actor.name}] {text}")


def _error(kind: type[Exception], code: str, message: str) -> Exception:
    if kind is MeteringUnavailable:
        return MeteringUnavailable(code, message)
    return kind(f"{code}: {message}")


def _latency(port: str, rng: random.Random) -> float:
    if port.startswith(MARKETPLACE):
        return rng.uniform(0.05, 0.15)
    return rng.uniform(0.002, 0.012)
