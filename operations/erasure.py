"""A buyer's right to erasure: their personal data (the onboarding form's answers, and the seller's tenant id, which may
be an e-mail address) erased on request, while what billing and audit need stays (who they are to AWS, their
subscription's lifecycle, their usage and metered records).

Idempotent (a second request finds nothing to erase), and a dry run says what would be erased: the names of the
fields, never their values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from functions.customers.model import Customer, CustomerRef
from operations.queries import OperationsDeps, named_customers


class ContactKeeper(Protocol):
    def list_all(self) -> Iterator[Customer]: ...

    def contact(self, ref: CustomerRef) -> dict[str, str]: ...

    def forget_contact(self, ref: CustomerRef) -> list[str]: ...


@dataclass(frozen=True)
class Erasure:
    customer: Customer
    outcome: str  # erased | would_erase | nothing_to_erase
    fields: tuple[str, ...] = ()


def forget_customer(
    deps: OperationsDeps, keeper: ContactKeeper, customer: str, *, product: str | None = None, dry_run: bool = False
) -> list[Erasure]:
    """Erase the personal data of every customer ``customer`` names (licence ARN, account id, legacy identifier or
    our key; of ``product`` if given)."""
    erasures = []
    for found in named_customers(deps, keeper.list_all(), customer, product):
        if dry_run:
            fields = tuple(sorted(keeper.contact(found.ref)) + (["tenant_id"] if found.tenant_id else []))
            erasures.append(Erasure(found, "would_erase" if fields else "nothing_to_erase", fields))
        else:
            fields = tuple(keeper.forget_contact(found.ref))
            erasures.append(Erasure(found, "erased" if fields else "nothing_to_erase", fields))
    return erasures
