"""Review of issue 23: a batch refused after claiming its events' identities releases them, even where a request
racing it stored the event meanwhile (a resend of it within the in-flight minute writes the first send's own item):
the event is then stored with no identity, and a re-stamped resend of it is accepted and billed a second time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from functions.usage.ingest import UsageRejected
from functions.usage.model import UsageEvent
from tests.fakes import InMemoryUsage
from tests.unit.review23_world import World, hour


class ReleasingLate(InMemoryUsage):
    """The usage table, where another request runs between this one's claims and their release (two Lambda
    invocations on one table: any interleaving of their port calls can happen)."""

    between: Callable[[], Any] | None = None

    def release(self, events: Sequence[UsageEvent], request: str) -> None:
        if (run := self.between) is not None:
            self.between = None
            run()
        super().release(events, request)


def test_an_event_stored_by_a_racing_resend_keeps_its_identity_when_the_other_batch_is_refused() -> None:
    world = World(usage=ReleasingLate)
    store = world.usage
    assert isinstance(store, ReleasingLate)
    world.subscribe()
    world.at(hour(9, 10))
    assert world.record(world.usage_event("y", 3)).accepted == ("y",)
    # Given a batch [x, y changed] (refused: y was stored with 3) racing a batch [x] sent at the same moment (a
    # producer's two workers, or its retry of a batch split after an earlier 409)
    world.at(hour(9, 20))
    answers: list[Any] = []
    store.between = lambda: answers.append(world.record(world.usage_event("x", 7)))
    with pytest.raises(UsageRejected) as refused:
        world.record(world.usage_event("x", 7), world.usage_event("y", 4))
    assert refused.value.kind == "conflict"
    # the racing batch was answered 200: x counts (stored as the first batch's claim had it)
    assert [r.to_dict()["results"] for r in answers] == [[{"event_id": "x", "status": "duplicate"}]]
    # When the producer, later, resends x re-stamped (a retry that re-stamps: a 409 by the rules, or a duplicate)
    world.at(hour(10, 2))
    try:
        again = world.record(world.usage_event("x", 7)).to_dict()["results"]
    except UsageRejected as rejection:
        again = [{"event_id": "x", "status": rejection.kind}]
    # Then x counts once: y's 3 units and x's 7 are billed, nothing more
    assert again != [{"event_id": "x", "status": "accepted"}], "x was counted once already"
    world.at(hour(12, 10))
    assert sum(world.billed_hours().values()) == 10, world.billed_hours()
