"""What every part of the emulator shares: the seller's world, the clock, faults, quota, notifications, the state
file, and the one lock that guards them (:class:`EmulatorState`). The parts (``aws_pipeline``, ``world_admin``,
``lifecycle``, ``queries``) take it; ``service.Marketplace`` is it, with one method per thing the emulator does.

Lock discipline (every module above follows it):

- ``lock`` (reentrant) guards ``world`` and everything in it: read or change the world only while holding it, and
  answer with copies made under it (notification entries, never changed once made, are passed on as they are).
  One exception: ``world.config`` may be read without it (quota, buyer page), because the config dict is only ever
  replaced whole, never changed in place, so a reader holding one sees one consistent config.
- Nothing slow or outward happens under it. Injected latency, the fault queue and the quota run before it is
  taken; notifications emitted under it are only queued, and :meth:`EmulatorState.flush_notifications` hands them to
  listeners and webhooks after it is released, so a listener may call back into the emulator.
- :meth:`EmulatorState.persist` under it only marks the world dirty. The state writer takes its own write lock, then
  this one just long enough to snapshot, and writes the file outside it: writer lock first, never the other way round.
- ``clock``, ``faults``, ``quota`` and ``hub`` have small locks of their own and may be used with or without it.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from . import persistence
from .clock import Clock
from .faults import Faults
from .notifications import NotificationHub
from .quota import TokenBuckets
from .world import World


class EmulatorState:
    def __init__(self, state_file: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.clock = Clock()
        self.faults = Faults()
        self.quota = TokenBuckets()
        self.hub = NotificationHub()
        self.world = World()
        self._writer: persistence.StateWriter | None = None
        if self.state_file is not None:
            self._writer = persistence.StateWriter(self.state_file, self._snapshot)
            saved = persistence.load_world(self.state_file)
            if saved is not None:
                self.world = saved
                self.clock.set_offset(saved.clock_offset_seconds)

    def now(self) -> datetime:
        return self.clock.now()

    def persist(self) -> None:
        """Schedule a state-file write after a mutation; a no-op for in-memory worlds."""
        if self._writer is not None:
            self._writer.schedule()

    def flush_state(self) -> None:
        """Write the state file now (blocks until it is on disk)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Stop the background writer and write the final state."""
        if self._writer is not None:
            self._writer.close()

    def _snapshot(self) -> dict[str, Any]:
        with self.lock:
            return persistence.snapshot(self.world, self.clock)

    def flush_notifications(self) -> None:
        """Deliver the notifications queued since the last flush; call without holding the lock."""
        with self.lock:
            webhooks = list(self.world.webhooks)
        self.hub.flush(webhooks)
