"""What registration needs of AWS Marketplace, as ports: who a registration token names (ResolveCustomer), and
whether the buyer's agreement includes a free trial (GetAgreementTerms); and the errors the adapters
(``functions.marketplace``) raise in our terms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ResolvedCustomer:
    """Who ResolveCustomer says a registration token names."""

    product_code: str
    customer_aws_account_id: str
    license_arn: str | None
    customer_identifier: str | None
    agreement_id: str | None


class RegistrationTokenError(Exception):
    """Marketplace refused the token: the buyer must start again from AWS Marketplace."""


class InvalidToken(RegistrationTokenError):
    pass


class ExpiredToken(RegistrationTokenError):
    """Expired, or already used (AWS documents a resubmitted token as expired)."""


class AnswerLost(RegistrationTokenError):
    """Marketplace may have resolved the token, but the answer never arrived, and the token resolves only once: the
    buyer did nothing wrong, and needs a new link (an outage, not an expired link)."""


class MarketplaceUnavailable(Exception):
    """Throttled or failing after every retry: trying again later may succeed."""


class MarketplaceRejected(Exception):
    """A refusal that is our configuration's fault (wrong account or region, disabled API), not the buyer's."""


class CustomerResolver(Protocol):
    def resolve(self, token: str) -> ResolvedCustomer: ...


class AgreementTermsUnavailable(Exception):
    """Marketplace did not say what the agreement's terms are: throttled, denied (the seller is no party to a
    channel partner's agreement), not found, failing or unreachable. ``reason`` is the error code, nothing else."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"GetAgreementTerms failed: {reason}")
        self.reason = reason


class AgreementTerms(Protocol):
    def includes_free_trial(self, agreement_id: str) -> bool:
        """Whether the buyer accepted a free-trial pricing term in the agreement; AgreementTermsUnavailable if
        Marketplace could not say."""
        ...
