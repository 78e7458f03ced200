"""ResolveCustomer and GetAgreementTerms behind small interfaces; botocore's errors become ours.

The shared metering client has botocore retries off (metering decides itself what is safe to resend), so
the resolver retries throttling and 5xx with full-jitter exponential backoff and an injectable sleep. The agreement
client keeps botocore's standard retries: reading terms changes nothing, so a resend is always safe.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

_RETRYABLE = {"ThrottlingException", "InternalServiceErrorException"}
MAX_ATTEMPTS = 4
BASE_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 1.0
# An agreement has a handful of terms; a service that kept answering with a nextToken would loop for ever.
MAX_TERM_PAGES = 20


@dataclass(frozen=True)
class ResolvedCustomer:
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


class MarketplaceResolver:
    def __init__(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._jitter = jitter
        self._max_attempts = max_attempts

    def resolve(self, token: str) -> ResolvedCustomer:
        # an attempt whose outcome is unknown (no answer, a 5xx) may have resolved the token: where tokens resolve
        # again (AWS's 2026 guidance) the retry gets the same answer; where they are single use it is refused
        maybe_resolved = False
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._client.resolve_customer(RegistrationToken=token)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code == "InvalidTokenException":
                    raise InvalidToken("the registration token is not valid") from None
                if code == "ExpiredTokenException" and maybe_resolved:
                    raise AnswerLost("ResolveCustomer's answer was lost and the token resolves only once") from None
                if code == "ExpiredTokenException":
                    raise ExpiredToken("the registration token has expired or was already used") from None
                if code not in _RETRYABLE and status < 500:
                    raise MarketplaceRejected(f"ResolveCustomer failed: {code}") from None
                maybe_resolved = maybe_resolved or status >= 500
                if attempt == self._max_attempts:
                    raise MarketplaceUnavailable(f"ResolveCustomer still failing after {attempt} attempts") from None
            except BotoCoreError as error:  # connection problems: as transient as a 5xx
                maybe_resolved = True
                if attempt == self._max_attempts:
                    raise MarketplaceUnavailable(f"ResolveCustomer unreachable: {type(error).__name__}") from None
            else:
                return _resolved(response)
            self._sleep(self._jitter(0, min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempt - 1))))
        raise AssertionError("unreachable")  # pragma: no cover


class MarketplaceAgreementTerms:
    """GetAgreementTerms (AWS Marketplace Agreement Service): an agreement whose accepted terms include a
    ``freeTrialPricingTerm`` is a free trial (API reference, AcceptedTerm)."""

    def __init__(self, client: Any, *, max_pages: int = MAX_TERM_PAGES) -> None:
        self._client = client
        self._max_pages = max_pages

    def includes_free_trial(self, agreement_id: str) -> bool:
        request: dict[str, Any] = {"agreementId": agreement_id}
        for _ in range(self._max_pages):
            try:
                page = self._client.get_agreement_terms(**request)
            except ClientError as error:
                raise AgreementTermsUnavailable(error.response.get("Error", {}).get("Code", "Unknown")) from None
            except BotoCoreError as error:  # unreachable, timed out, or an answer botocore could not read
                raise AgreementTermsUnavailable(type(error).__name__) from None
            if any(term.get("freeTrialPricingTerm") for term in page.get("acceptedTerms") or []):
                return True
            token = page.get("nextToken")
            if not token:
                return False
            request["nextToken"] = token
        raise AgreementTermsUnavailable(f"still paging after {self._max_pages} pages")


def _resolved(response: dict[str, Any]) -> ResolvedCustomer:
    return ResolvedCustomer(
        product_code=response["ProductCode"],
        customer_aws_account_id=response["CustomerAWSAccountId"],
        license_arn=response.get("LicenseArn") or None,
        customer_identifier=response.get("CustomerIdentifier") or None,
        agreement_id=(response.get("Metadata") or {}).get("AgreementId"),
    )
