"""Invariant 8, checked the moment the usage API refuses: usage Marketplace would bill is not refused for who the buyer
is (their subscription's state, start or final hour) once the product has heard everything Marketplace published about
them. Invariant 6 sees a buyer's state only once the world is over; a refusal on the way, taking revenue the seller was
owed (a buyer ended before their own close, a final hour cut short), left no trace until this did.

Refusals for what the event itself says (its timestamp too old or ahead, an unknown buyer, a bad field) are the
caller's to fix and are not judged here; nor is any refusal while a notification about the buyer is still on its way
(the product cannot know what it has not heard: seed 162's refusals are by design)."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.customers.subscription import ABOUT_AN_HOUR
from functions.usage.model import hour_of
from sim.marketplace import FINAL_HOUR, Licence
from sim.plan import Plan

# functions/usage/ingest.py's refusals that are about the buyer's lifecycle, not about the event
AFTER_THE_FINAL_HOUR = "is after this subscription's final hour"
LIFECYCLE_PROBLEMS = ("subscription ", AFTER_THE_FINAL_HOUR, "is before this buyer")
# the 24-hour metering window, less a minute of the product's own clock: older usage is refused for its timestamp
OLDEST = timedelta(hours=24) - timedelta(minutes=1)
STAMPED_TO = timedelta(seconds=1)  # an EventBridge event's time is to the second (an SNS message's to the millisecond)


def refused_billable(
    plan: Plan, licence: Licence | None, stamp: datetime, received: datetime, problem: str, sent_early: datetime | None
) -> str | None:
    """Why refusing usage stamped ``stamp`` at ``received`` for ``problem`` lost revenue, or None where it did not:
    Marketplace held the buyer subscribed at ``stamp`` (in any of their subscriptions), and holds them subscribed at
    ``received``, or leaving with the product's own final hour not over (``final_usage_cutoff_seconds`` into the hour
    after the leave, and not past the leave's closing message). A buyer back after an earlier leave's final usage
    was sent, leaving again, has the usage of the hours it sent refused by design: billed in the next, it would reach
    Marketplace too close to its close (attack 77)."""
    if not problem.startswith(LIFECYCLE_PROBLEMS) or licence is None or not received - OLDEST <= stamp <= received:
        return None
    # Marketplace's windows start to the second; the product hears an SNS stamp to the millisecond
    if not any(start + STAMPED_TO <= stamp and (ends is None or stamp < ends) for start, ends in licence.windows):
        return None
    # billed in an hour of the subscription they hold now (a late event's is a later one), or in their final hour
    start, closes = licence.windows[-1]
    if closes is None:
        return f"{problem!r}: stamped {stamp:%H:%M:%S}, refused at {received:%H:%M:%S}, subscribed from {start:%H:%M}"
    left = closes - FINAL_HOUR
    cutoff = left + timedelta(seconds=plan.settings.final_usage_cutoff_seconds)
    # AWS stamps an event to the second: the product's cutoff may be up to a second before the simulator's leave's
    last = min(cutoff, _own_close(plan, licence.license_arn, left)) - STAMPED_TO
    if stamp >= last or received >= last:
        return None
    if _closed_by_an_earlier_leave(plan, licence.license_arn, left, received):
        return None
    if problem.startswith(AFTER_THE_FINAL_HOUR) and sent_early is not None and hour_of(stamp) <= hour_of(sent_early):
        return None  # by design: its hour went with an earlier leave's final usage (docs/metering.md, step 3)
    return (
        f"{problem!r}: stamped {stamp:%H:%M:%S}, refused at {received:%H:%M:%S}, subscribed since {start:%H:%M:%S}, "
        f"left at {left:%H:%M:%S}: their final usage is taken until {cutoff:%H:%M:%S}"
    )


def _own_close(plan: Plan, customer: str, left: datetime) -> datetime:
    """When the message closing the leave at ``left`` was stamped: the product may end them then."""
    own = [
        b for b in plan.buyers if b.customer == customer and b.leaves is not None and abs(b.leaves - left) < STAMPED_TO
    ]
    return left + timedelta(seconds=plan.closes_after(own[0].n)) if own else left + FINAL_HOUR


def _closed_by_an_earlier_leave(plan: Plan, customer: str, left: datetime, received: datetime) -> bool:
    """docs/metering.md rule 5, by design: an earlier leave's success more than ``ABOUT_AN_HOUR`` off its hour, stamped
    after the later leave, is read as that later leave's quick close."""
    for earlier in plan.buyers:
        if earlier.customer != customer or earlier.leaves is None or earlier.leaves >= left - STAMPED_TO:
            continue
        off = timedelta(seconds=plan.closes_after(earlier.n)) - FINAL_HOUR
        stamped = earlier.leaves + FINAL_HOUR + off
        if abs(off) > ABOUT_AN_HOUR and left <= stamped <= received:
            return True
    return False
