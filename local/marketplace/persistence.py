"""The state file (``--state-file``): the world read back at start and rewritten after every mutation.

The file is the whole world as one JSON document, so each write costs O(ledger size). Writing it inline would
put that cost on every metered call, under the world lock; instead a mutation only marks the world dirty and
one background thread writes it, coalescing a burst of mutations into one write. ``flush`` writes at once
(``EmulatorServer.stop()`` does, so nothing is lost on a clean stop). Faults and quota buckets are run-time
only and never saved. The atomic replace itself (temp file, fsync, rename) is ``world.write_state``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .clock import Clock
from .world import World, write_state

log = logging.getLogger(__name__)

# How long the writer waits after a write before the next: mutations within it share one write.
WRITE_COALESCE_SECONDS = 0.05


def load_world(path: Path) -> World | None:
    """The world saved in ``path``, or None on a first start (no file yet)."""
    return World.load(path) if path.exists() else None


def snapshot(world: World, clock: Clock) -> dict[str, Any]:
    """The state file's document: the world with the clock's offset, so a moved clock survives a restart.

    Call with the world lock held: the document must be one consistent moment of the world.
    """
    world.clock_offset_seconds = clock.offset_seconds
    return world.to_json()


class StateWriter:
    """Writes ``snapshot()`` to ``path`` on a background thread whenever :meth:`schedule` was called since.

    ``snapshot`` takes the world lock itself; the writer calls it holding only its own write lock, and writes the
    file after the world lock is released, so metering goes on while the disk works.
    """

    def __init__(self, path: Path, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self._snapshot = snapshot
        self._dirty = threading.Event()
        self._closing = False
        # One write at a time, snapshot and write together, so an older snapshot never lands last.
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def schedule(self) -> None:
        """Note that the world changed; cheap enough to call under the world lock after every mutation."""
        self._dirty.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="marketplace-state", daemon=True)
            self._thread.start()

    def flush(self) -> None:
        """Write the state file now (blocks until it is on disk)."""
        self._dirty.clear()
        self._write()

    def close(self) -> None:
        """Stop the background thread and write the final state."""
        self._closing = True
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._closing = False
        self.flush()

    def _loop(self) -> None:
        while True:
            self._dirty.wait()
            if self._closing:
                return
            self._dirty.clear()
            try:
                self._write()
            except OSError:
                log.exception("could not write state file %s", self.path)
            time.sleep(WRITE_COALESCE_SECONDS)

    def _write(self) -> None:
        with self._write_lock:
            write_state(self.path, self._snapshot())
