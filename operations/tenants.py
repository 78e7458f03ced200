"""The seller's own name for a buyer: a tenant id linked to our customer, set by an operator here or by the seller's
sign-up page (``POST /register/tenant``), and found again with ``cli customers --tenant``."""

from __future__ import annotations

from dataclasses import dataclass

from functions.customers.model import Customer, TenantConflict, tenant_id_problem
from operations.queries import OperationsDeps, named_customers


class TenantRefused(ValueError):
    """The tenant id is not one, or the customer is linked to another tenant and ``replace`` was not asked."""


@dataclass(frozen=True)
class TenantLink:
    customer: Customer
    outcome: str  # linked | unchanged | moved
    previous: str | None = None


def set_tenant(
    deps: OperationsDeps, customer: str, tenant_id: str, *, product: str | None = None, replace: bool = False
) -> list[TenantLink]:
    """Link every customer ``customer`` names (licence ARN, account id, legacy identifier or our key; of ``product``
    if given) to ``tenant_id``. A customer linked to another tenant is moved only with ``replace``."""
    if (problem := tenant_id_problem(tenant_id)) is not None:
        raise TenantRefused(problem)
    chosen = named_customers(deps, deps.customers.list_all(), customer, product)
    taken = [c for c in chosen if c.tenant_id not in (None, tenant_id)]
    if taken and not replace:  # checked for all first, so a refusal changes nothing
        names = ", ".join(f"{c.ref.key} ({c.tenant_id})" for c in taken)
        raise TenantRefused(f"linked to another tenant already: {names}; --replace moves them")
    links: list[TenantLink] = []
    for found in chosen:
        try:
            changed = deps.customers.set_tenant(found.ref, tenant_id, replace=replace)
        except TenantConflict as conflict:  # linked by the sign-up page a moment ago: say what was done before it
            done = ", ".join(f"{link.customer.ref.key} {link.outcome}" for link in links) or "nothing"
            raise TenantRefused(
                f"{found.ref.key} was just linked to {conflict.current} (--replace moves it); done before it: {done}"
            ) from None
        outcome = "unchanged" if not changed else "moved" if found.tenant_id else "linked"
        links.append(TenantLink(found, outcome, found.tenant_id))
    return links
