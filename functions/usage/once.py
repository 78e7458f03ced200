"""Each event id stored once per customer, whatever hour a resend's timestamp names, and nothing of a batch stored
when one of its events was sent before with other content.

An event is kept twice: its *identity* (``UsageStore.claim``: the event as first accepted, under its customer and id,
for ``IDENTITY_LIFETIME``), and the event itself where the flush reads it (``UsageStore.add``: under its hour). The
identity is claimed first, so a crash between the two leaves an identity without its event, never the reverse; a
resend finds the identity and makes sure the event is stored (``_duplicate``):

- stored: a duplicate, counted once;
- not stored, and the first send's write may still land (it was accepted less than ``IN_FLIGHT_MARGIN`` ago): the
  identity is taken over (so a refusal of the first send's batch, releasing its claims, leaves it), then the first
  send's own item is written now, as it would have been; both writes are conditional, so one lands. Past the write
  deadline that write is refused (retryable): the first send's write may still be under way;
- not stored, and it never will be (the first send died): accepted anew, received now (so billed in the hour that
  is open now), its identity moved to this version first so that two resends racing store it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from functions.customers.model import IN_FLIGHT_MARGIN
from functions.storage.errors import StorageError
from functions.usage.model import UsageEvent, resent_differently


class UsageStore(Protocol):
    def claim(self, events: Sequence[UsageEvent], request: str) -> list[UsageEvent | None]:
        """Keep each event's identity unless one is kept (and its lifetime not over): None where it was kept now (by
        ``request``), else the event as kept, with when it was received and where it is billed."""
        ...

    def release(self, events: Sequence[UsageEvent], request: str) -> None:
        """Undo ``request``'s claims of ``events`` (a batch refused after claiming)."""
        ...

    def add(self, events: Sequence[UsageEvent]) -> list[bool]:
        """Store each event where the flush reads it unless it is stored there; True where it was new. A write not
        started within ``WRITE_START_DEADLINE`` of the event's acceptance is refused (retryable)."""
        ...

    def kept(self, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        """The identities kept of these (expired ones too: the caller compares ``billing_hour``), strongly
        consistent."""
        ...

    def is_stored(self, event: UsageEvent) -> bool:
        """Whether the event is stored where the flush reads it (a strongly consistent read)."""
        ...

    def reclaim(self, event: UsageEvent, kept: UsageEvent) -> bool:
        """Keep ``event`` as the identity instead of ``kept``; False if the identity is no longer ``kept``."""
        ...


@dataclass(frozen=True)
class Conflict:
    """An event id sent before with other content."""

    index: int  # in the batch
    field: str
    event_id: str
    first: UsageEvent


@dataclass(frozen=True)
class StoredOnce:
    """What storing a batch once did: events stored, duplicates, and conflicts."""

    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]
    conflicts: tuple[Conflict, ...] = ()


class FirstSendInFlight(StorageError):
    """A resend came while its first send's write may still land: send it again in a minute."""

    def __init__(self, event_id: str) -> None:
        super().__init__(
            f"event {event_id} was accepted seconds ago and may still be being written: send it again in a minute",
            code="FirstSendInFlight",
            retryable=True,
            retry_after=IN_FLIGHT_MARGIN.total_seconds(),
        )


def store_once(
    events: Sequence[tuple[int, UsageEvent]], store: UsageStore, *, request: str, now: datetime
) -> StoredOnce:
    """Store each ``(batch index, event)`` once per identity. With any conflict (an event sent before with other
    content, and stored), nothing: the conflicts are returned, and the events of the batch stored before as they are
    (duplicates). A version that was claimed but never stored (its send died) never counted: a resend, changed or
    not, takes its place."""
    kept = store.claim([event for _, event in events], request)
    claimed = [event for (_, event), first in zip(events, kept, strict=True) if first is None]
    conflicts: list[Conflict] = []
    again: list[tuple[UsageEvent, UsageEvent]] = []  # (this version, the one kept)
    for (index, event), first in zip(events, kept, strict=True):
        if first is None:
            continue
        field = resent_differently(first, event)
        if field is not None and store.is_stored(first):
            conflicts.append(Conflict(index, field, event.event_id, first))
        elif field is not None and now - first.received_at < IN_FLIGHT_MARGIN:
            store.release(claimed, request)
            raise FirstSendInFlight(event.event_id)  # it may land yet, and then it is the one that counts
        else:
            again.append((event, first))
    if conflicts:
        store.release(claimed, request)
        stored_before = [
            e.event_id for e, first in again if resent_differently(first, e) is None and store.is_stored(first)
        ]
        return StoredOnce((), tuple(stored_before), tuple(conflicts))
    store.add(claimed)  # False only where a resend of ours already wrote the same item: stored once either way
    accepted = [event.event_id for event in claimed]
    duplicates: list[str] = []
    for event, first in again:
        (duplicates if _duplicate(event, first, store, now) else accepted).append(event.event_id)
    return StoredOnce(tuple(accepted), tuple(duplicates))


def _duplicate(resend: UsageEvent, first: UsageEvent, store: UsageStore, now: datetime) -> bool:
    """Make sure the event is stored; True if it was (a duplicate), False if this resend stored it anew (the first
    version, claimed, never was: this one, changed or not, takes its place)."""
    changed = resent_differently(first, resend) is not None
    if not changed and store.is_stored(first):
        return True
    if not changed and now - first.received_at < IN_FLIGHT_MARGIN:
        # the identity taken over first: the first send's batch may yet be refused, and its release must not then
        # remove the identity of an event this resend stores (a later resend would be accepted and billed again)
        if not store.reclaim(first, first):
            raise FirstSendInFlight(first.event_id)  # released or taken over meanwhile: a retry sees which
        try:
            store.add([first])  # as the first send would have written it: once, whichever lands first
        except StorageError as error:
            if error.code == "WriteDeadlineExceeded":
                raise FirstSendInFlight(first.event_id) from error
            raise
        return True
    # the first send's write never landed and never will: this resend is the event, received now
    again = resend if changed else replace(resend, timestamp=first.timestamp)
    if not store.reclaim(again, first):
        raise FirstSendInFlight(first.event_id)  # another resend is storing it right now
    store.add([again])
    return False
