"""Per-seller request quotas as token buckets.

Deliberately on ``time.monotonic()`` and not on the emulator clock: benchmarks measure real throughput
against the quota, and moving the settable clock must neither refill nor drain a bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._monotonic = monotonic

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def try_acquire(self, key: str, group: str, rate: float, burst: float) -> bool:
        """Take one token from the (key, group) bucket; False means the caller is over quota."""
        if rate <= 0 and burst <= 0:
            return False
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get((key, group))
            if bucket is None:
                bucket = self._buckets[(key, group)] = _Bucket(tokens=float(burst), updated=now)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True
            return False
