"""What the lifecycle (and the operator's reconciliation) needs of GetAgreementEntitlements, as a port: an
agreement's entitlements, each with its licence and provisioning status (``functions.marketplace.agreements`` is the
adapter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AgreementEntitlement:
    """One entitlement of an agreement: what it is provisioned to (a product id), its licence, and its status
    (PROVISIONED, SCHEDULED, PENDING, FAILED, DEPROVISIONED) with the reason code AWS gives."""

    licence_arn: str | None
    status: str | None
    reason: str | None
    product_id: str | None


class AgreementEntitlementsUnavailable(RuntimeError):
    """GetAgreementEntitlements failed, was refused, or never finished paging."""


class AgreementEntitlementReader(Protocol):
    def of(self, agreement_id: str) -> list[AgreementEntitlement]: ...
