"""Run-time switchable faults: latency, random 500s, unprocessed records, lost responses, and a queue.

Random decisions come from one seeded ``random.Random`` so a failing test can be replayed with the same
seed; the ``next_errors`` queue is the deterministic way to produce any error exactly once.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from .errors import normalize_code

LOST_RESPONSE = "LostResponse"


@dataclass(frozen=True)
class QueuedError:
    operation: str
    code: str
    message: str
    status: int | None


def _rate(value: Any, name: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1")
    return rate


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.latency_ms: tuple[float, float] = (0.0, 0.0)
            self.internal_error_rate = 0.0
            self.unprocessed_rate = 0.0
            self.lost_response_rate = 0.0
            self.empty_page_rate = 0.0
            # None means every operation; faults for the admin API are never injected.
            self.operations: list[str] | None = None
            self.seed: int | None = None
            self._random = random.Random()
            self.next_errors: list[dict[str, Any]] = []

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": list(self.latency_ms),
                "internal_error_rate": self.internal_error_rate,
                "unprocessed_rate": self.unprocessed_rate,
                "lost_response_rate": self.lost_response_rate,
                "empty_page_rate": self.empty_page_rate,
                "operations": self.operations,
                "seed": self.seed,
                "next_errors": [dict(entry) for entry in self.next_errors],
            }

    def update(self, body: dict[str, Any]) -> None:
        """Merge a PUT /admin/faults body; validates everything before changing anything."""
        latency = self.latency_ms
        if "latency_ms" in body:
            raw = body["latency_ms"]
            if isinstance(raw, int | float):
                latency = (float(raw), float(raw))
            elif isinstance(raw, list) and len(raw) == 2:
                latency = (float(raw[0]), float(raw[1]))
            elif raw is None:
                latency = (0.0, 0.0)
            else:
                raise ValueError("latency_ms must be a number or [min, max]")
            if latency[0] < 0 or latency[1] < latency[0]:
                raise ValueError("latency_ms must satisfy 0 <= min <= max")
        rates = {
            name: _rate(body[name], name)
            for name in ("internal_error_rate", "unprocessed_rate", "lost_response_rate", "empty_page_rate")
            if name in body
        }
        queued: list[dict[str, Any]] = []
        for entry in body.get("next_errors") or []:
            if not isinstance(entry, dict) or "code" not in entry:
                raise ValueError("next_errors entries need at least a code")
            count = int(entry.get("count", 1))
            if count < 1:
                raise ValueError("count must be >= 1")
            queued.append(
                {
                    "operation": str(entry.get("operation", "*")),
                    "code": normalize_code(str(entry["code"])),
                    "message": entry.get("message"),
                    "status": entry.get("status"),
                    "count": count,
                }
            )
        operations = body.get("operations", self.operations)
        if operations is not None and not isinstance(operations, list):
            raise ValueError("operations must be a list of operation names or null")
        with self._lock:
            self.latency_ms = latency
            for name, rate in rates.items():
                setattr(self, name, rate)
            self.operations = operations
            if "seed" in body:
                self.seed = None if body["seed"] is None else int(body["seed"])
                self._random = random.Random(self.seed)
            # The queue is replaced, not appended to, so PUT stays idempotent like the other fields.
            if "next_errors" in body:
                self.next_errors = queued

    def _applies(self, operation: str) -> bool:
        return self.operations is None or operation in self.operations

    def pop_error(self, operation: str) -> QueuedError | None:
        with self._lock:
            for index, entry in enumerate(self.next_errors):
                if entry["operation"] in ("*", operation):
                    entry["count"] -= 1
                    if entry["count"] <= 0:
                        del self.next_errors[index]
                    message = entry["message"] or f"Injected {entry['code']} (emulator fault queue)"
                    return QueuedError(operation, entry["code"], message, entry["status"])
        return None

    def latency_seconds(self, operation: str) -> float:
        with self._lock:
            low, high = self.latency_ms
            if high <= 0 or not self._applies(operation):
                return 0.0
            return self._random.uniform(low, high) / 1000.0

    def roll(self, name: str, operation: str) -> bool:
        with self._lock:
            rate: float = getattr(self, name)
            if rate <= 0 or not self._applies(operation):
                return False
            return self._random.random() < rate
