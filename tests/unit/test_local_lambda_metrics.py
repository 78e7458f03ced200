"""The local Lambda service tells of each invocation as Lambda's metrics do (name, failed or not, duration), and a
failure to publish them changes nothing about the invocation."""

from __future__ import annotations

from typing import Any

import pytest

from local.lambda_service import LocalLambda


def test_each_invocation_is_observed_with_its_outcome() -> None:
    seen: list[tuple[str, bool]] = []

    def broken(event: Any, context: Any) -> Any:
        raise RuntimeError("the function failed")

    service = LocalLambda({"flush": lambda event, context: {"ok": event}, "broken": broken})
    service.observer = lambda name, failed, duration_ms: seen.append((name, failed))
    assert service.run("flush", 1) == {"ok": 1}
    with pytest.raises(RuntimeError, match="the function failed"):
        service.run("broken", {})
    assert seen == [("flush", False), ("broken", True)]


def test_metrics_that_cannot_be_published_leave_the_invocation_as_it_was() -> None:
    def unreachable(name: str, failed: bool, duration_ms: float) -> None:
        raise ConnectionError("the metrics endpoint is gone")

    service = LocalLambda({"flush": lambda event, context: "done"})
    service.observer = unreachable
    assert service.run("flush", {}) == "done"
