"""A buyer's right to erasure: their personal data (the onboarding form's answers) erased on request, while what
billing and audit need stays (who they are to AWS, their subscription's lifecycle, their usage and metered records).

Idempotent (a second request finds nothing to erase), and a dry run says what would be erased: the names of the
fields, never their values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from functions.customers.model import Customer, CustomerRef
from operations.queries import OperationsDeps, UnknownName, customer_names


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
    if product is not None and deps.settings.product(product) is None:
        raise UnknownName("product", product, sorted(p.code for p in deps.settings.products))
    candidates = [c for c in keeper.list_all() if product is None or c.ref.product_code == product]
    chosen = [c for c in candidates if customer in customer_names(c)]
    if not chosen:
        raise UnknownName("customer", customer, sorted({c.customer_aws_account_id for c in candidates}))
    erasures = []
    for found in sorted(chosen, key=lambda c: (c.ref.product_code, c.ref.key)):
        if dry_run:
            fields = tuple(sorted(keeper.contact(found.ref)))
            erasures.append(Erasure(found, "would_erase" if fields else "nothing_to_erase", fields))
        else:
            fields = tuple(keeper.forget_contact(found.ref))
            erasures.append(Erasure(found, "erased" if fields else "nothing_to_erase", fields))
    return erasures
