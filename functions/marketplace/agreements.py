"""The AWS Marketplace Agreement Service's reads: GetAgreementTerms (does the buyer's agreement include a free trial)
and GetAgreementEntitlements (an agreement's licence and its provisioning status).

Its client keeps botocore's standard retries: reading changes nothing, so a resend is always safe.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.lifecycle.agreement_entitlements import AgreementEntitlement, AgreementEntitlementsUnavailable
from functions.registration.resolution import AgreementTermsUnavailable

# An agreement has a handful of terms; a service that kept answering with a nextToken would loop for ever.
MAX_TERM_PAGES = 20
# An agreement has an entitlement per product it grants (one for a SaaS product); likewise bounded
MAX_ENTITLEMENT_PAGES = 20


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


class MarketplaceAgreementEntitlements:
    """GetAgreementEntitlements: every entitlement of an agreement, every page read."""

    def __init__(self, client: Any, *, max_pages: int = MAX_ENTITLEMENT_PAGES) -> None:
        self._client = client
        self._max_pages = max_pages

    def of(self, agreement_id: str) -> list[AgreementEntitlement]:
        request: dict[str, Any] = {"agreementId": agreement_id}
        found: list[AgreementEntitlement] = []
        for _ in range(self._max_pages):
            try:
                page = self._client.get_agreement_entitlements(**request)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "Unknown")
                raise AgreementEntitlementsUnavailable(code) from None
            except BotoCoreError as error:
                raise AgreementEntitlementsUnavailable(type(error).__name__) from None
            for raw in page.get("agreementEntitlements") or []:
                # registrationToken is the buyer's way in to the seller's registration: never kept or logged
                found.append(
                    AgreementEntitlement(
                        licence_arn=raw.get("licenseArn"),
                        status=raw.get("status"),
                        reason=raw.get("statusReasonCode"),
                        product_id=(raw.get("resource") or {}).get("id"),
                    )
                )
            token = page.get("nextToken")
            if not token:
                return found
            request["nextToken"] = token
        raise AgreementEntitlementsUnavailable(f"still paging after {self._max_pages} pages")
