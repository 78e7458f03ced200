"""What must hold of the refunds ``cli adjust`` asks for, in worlds where an outsider over-bills our buyers
(``Plan.refunds``), checked once the world has healed and a final adjust has run over its whole span:

1. Per (customer, dimension, hour), the units refunded never exceed what AWS billed there less what was due (our
   sealed record's quantity); a refund's amount never exceeds its hours' over-billed units at list price.
2. Honest usage is never refunded: no refund names an hour nobody over-billed.
3. Every over-billed hour whose invoice has room (``maxAdjustmentAmount``) is refunded, by exactly one refund.

The truth is the world's, not our code's: what the outsider billed first (``SimMarketplace.outsider``) less what our
ledger sealed for the hour. Which hours a refund covers is read from what AWS took: its description names each hour,
dimension and units (the agreement names the buyer); where the description was cut at its 500 characters, the hours
the refund claimed (its ``ASKED#`` item) are read instead.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from functions.flush.records import PARKED_CARRY
from functions.usage.model import HOUR
from operations.estimates import price_of
from operations.reconcile import PLACED_FROM
from sim.world import World

Key = tuple[str, str, datetime]  # customer (licence or identifier), dimension, hour


def over_billed(world: World) -> dict[Key, Decimal]:
    """Units AWS billed beyond what was due, per (customer, dimension, hour): the outsider's, billed first, less our
    sealed record's quantity there (its usage, what was carried into it, less what it carried on)."""
    due: dict[Key, Decimal] = defaultdict(Decimal)
    for entry in world.ledger.stored():
        record = entry.record
        if not record.key.endswith(PARKED_CARRY):
            due[(record.customer, record.dimension, record.hour)] += record.quantity
    return {key: max(Decimal(0), units - due[key]) for key, units in world.marketplace.outsider.items()}


def _described(description: str) -> list[tuple[datetime, str, Decimal]] | None:
    """The hours a refund's description names (``operations.adjust.Proposal.description``, before its token's
    reference); None if it was cut."""
    text = description.rsplit(" (ref ", 1)[0]
    if text.endswith("...") or ": " not in text:
        return None
    found = []
    for item in text.split(": ", 1)[1].split(", "):
        stamp, dimension, units = item.split(" ")
        found.append((datetime.fromisoformat(stamp.removesuffix("Z") + ":00+00:00"), dimension, Decimal(units)))
    return found


def refunded(world: World) -> dict[str, list[tuple[Key, Decimal | None]]]:
    """Each refund AWS took (by client token): the hours it covers, with their units where its description says."""
    covered: dict[str, list[tuple[Key, Decimal | None]]] = {}
    for token, adjustment in sorted(world.agreements.adjustments.items()):
        if token in world.agreements.failed:  # AWS failed it after taking it: it refunded nothing
            continue
        customer = world.marketplace.owner_of(adjustment.entry.agreement_id) or "?"
        described = _described(adjustment.entry.description)
        if described is not None:
            covered[token] = [((customer, dimension, hour), units) for hour, dimension, units in described]
            continue
        asked = world.operator.claims.asked.get(token)
        keys = asked.keys if asked is not None else ()
        covered[token] = [((c, d, datetime.fromisoformat(h + ":00+00:00")), None) for _, c, d, h in _split(keys)]
    return covered


def _split(keys: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    parts = [tuple(k.split("#")) for k in keys]
    return [(p[0], p[1], p[2], p[3]) for p in parts if len(p) == 4]


def check(world: World) -> None:
    if not world.plan.refunds:
        return
    truth = over_billed(world)
    covered = refunded(world)
    units: dict[Key, Decimal] = defaultdict(Decimal)
    refunds_of: dict[Key, list[str]] = defaultdict(list)
    product = world.plan.product.code
    excessive: list[str] = []
    for token, hours in covered.items():
        entry = world.agreements.adjustments[token].entry
        worth = Decimal(0)
        for key, told in hours:
            refunds_of[key].append(token)
            if (held_by := world.marketplace.agreement_at(key[0], key[2])) != entry.agreement_id:
                world.violation(
                    "a refund goes on the invoice of the agreement that billed its hours",
                    f"{token[-10:]}: {key[0][-12:]} {key[1]} {key[2]:%Y-%m-%dT%H} refunded on "
                    f"{entry.agreement_id[-8:]}, billed on {str(held_by)[-8:]}",
                )
            units[key] += told if told is not None else truth.get(key, Decimal(0))
            priced = price_of(world.settings, product, key[1])
            worth += truth.get(key, Decimal(0)) * (priced[0] if priced else Decimal(0))
        if not hours:
            world.violation("a refund names the hours it refunds", f"{token}: {entry.description!r}")
        if entry.amount > worth:
            excessive.append(
                f"{token[-10:]} on {entry.invoice_id}: {entry.amount} refunded, {worth} over-billed in its hours"
            )
    for key in sorted(refunds_of):
        name = f"{key[0][-12:]} {key[1]} {key[2]:%Y-%m-%dT%H}"
        excess = truth.get(key, Decimal(0))
        if excess == 0:
            world.violation(
                "honest usage is never refunded", f"{name}: refunded {units[key]} units, nobody over-billed it"
            )
        elif units[key] > excess:
            world.violation(
                "refunded units never exceed what AWS billed less what was due",
                f"{name}: refunded {units[key]} units by {len(refunds_of[key])} refunds, over-billed {excess}",
            )
        elif len(refunds_of[key]) > 1:
            world.violation("each over-billed hour is refunded once", f"{name}: by {len(refunds_of[key])} refunds")
    for token in world.agreements.resent_answered:  # only AWS's memory of the token would keep it from refunding again
        world.violation("a refund AWS answered is never sent again", f"{token[-10:]} sent again")
    for detail in excessive:
        world.violation("a refund never exceeds its hours' over-billed units at list price", detail)
    _all_refunded(world, truth, refunds_of)


def _all_refunded(world: World, truth: dict[Key, Decimal], refunds_of: dict[Key, list[str]]) -> None:
    """After the final adjust over the world's span: every over-billed hour of a buyer whose agreement we know, on an
    invoice with room left, is refunded."""
    if world.adjusted_at is None:
        world.violation("the final adjust over the world's span finishes", "it never did")
        return
    agreements = {
        c.ref.license_arn: c.agreement_id
        for c in world.customers_store.list_all()
        if c.ref.license_arn and c.agreement_id
    }
    for key, excess in sorted(truth.items()):
        customer, dimension, hour = key
        if excess == 0 or refunds_of.get(key) or customer not in agreements:
            continue
        if hour + PLACED_FROM > world.adjusted_at:  # what was due there was not final yet: refunded later
            continue
        # kept no longer than the seller's audit_retention_days by the final adjust (a short one drawn with
        # --random-settings, and a first refund AWS never took, voided a day later): adjust says it cannot tell
        if hour < world.adjusted_at - timedelta(days=world.settings.audit_retention_days) + HOUR:
            continue
        agreement = world.marketplace.agreement_at(customer, hour)
        if agreement is None or world.agreements.room(agreement, hour.year, hour.month) <= 0:
            continue
        # a renewal is a new agreement of the licence: its hours are on the new agreement's invoices
        renewed = agreements[customer] != agreement
        world.violation(
            "every over-billed hour with an invoice having room is refunded"
            + (", on the invoice of the agreement that billed it" if renewed else ""),
            f"{customer[-12:]} {dimension} {hour:%Y-%m-%dT%H}: {excess} units over-billed, never refunded "
            f"(invoice of {agreement[-8:]} has {world.agreements.room(agreement, hour.year, hour.month)} left; "
            f"our customer's agreement: {agreements[customer][-8:]})",
        )
