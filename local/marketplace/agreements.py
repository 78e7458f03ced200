"""How an agreement was sold, and its renewal: the world-side rules the lifecycle actions in ``service`` apply."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from . import entitlement
from .clock import iso
from .eventbridge import agreement_end
from .world import Product, Subscription, new_agreement_id


def sale_channel(body: dict[str, Any]) -> dict[str, str | None]:
    """``proposer_account_id`` (a channel partner's account; absent for a direct offer) and
    ``resale_authorization_id`` from a subscribe request, checked."""
    proposer = body.get("proposer_account_id")
    if proposer is not None and not (isinstance(proposer, str) and proposer.isdigit() and len(proposer) == 12):
        raise ValueError("proposer_account_id must be 12 digits")
    resale = body.get("resale_authorization_id")
    if resale is not None and not (isinstance(resale, str) and resale):
        raise ValueError("resale_authorization_id must be a non-empty string")
    return {"proposer_account_id": proposer, "resale_authorization_id": resale}


def renewal_of(sub: Subscription, product: Product, now: datetime, body: dict[str, Any]) -> Subscription:
    """The renewal agreement: a new agreement id for the same buyer, licence and customer identifier, starting now.

    It is sold the way the renewed one was (same proposer and resale authorization) unless the request names
    another ``resale_authorization_id`` (null: none; AWS's renewal example carries none). Entitlements are the
    request's, else the renewed agreement's carried over with their expiry moved to the new agreement's end (a
    renewal grants the same terms for another term).
    """
    resale = sub.resale_authorization_id
    if "resale_authorization_id" in body:
        resale = sale_channel({"resale_authorization_id": body["resale_authorization_id"]})["resale_authorization_id"]
    renewal = replace(
        sub,
        agreement_id=new_agreement_id(),
        offer_id=str(body.get("offer_id") or sub.offer_id),
        status="active",
        created_at=iso(now),
        confirmed_at=iso(now),
        unsubscribed_at=None,
        ended_at=None,
        previous_agreement_id=sub.agreement_id,
        replaced_by=None,
        resale_authorization_id=resale,
    )
    if body.get("entitlements") is not None:
        renewal.entitlements = [entitlement.normalize_entitlement(e) for e in body["entitlements"]]
    else:
        end = iso(agreement_end(renewal, product))
        renewal.entitlements = [
            {**e, "expiration_date": end if e.get("expiration_date") else None} for e in sub.entitlements
        ]
    return renewal
