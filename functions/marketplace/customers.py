"""ResolveCustomer: a registration token in, the customer it names out; botocore's errors become registration's.

The shared metering client has botocore retries off (metering decides itself what is safe to resend), so the resolver
retries throttling and 5xx with full-jitter exponential backoff and an injectable sleep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.registration.resolution import (
    AnswerLost,
    ExpiredToken,
    InvalidToken,
    MarketplaceRejected,
    MarketplaceUnavailable,
    ResolvedCustomer,
)

_RETRYABLE = {"ThrottlingException", "InternalServiceErrorException"}
MAX_ATTEMPTS = 4
BASE_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 1.0


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


def _resolved(response: dict[str, Any]) -> ResolvedCustomer:
    return ResolvedCustomer(
        product_code=response["ProductCode"],
        customer_aws_account_id=response["CustomerAWSAccountId"],
        license_arn=response.get("LicenseArn") or None,
        customer_identifier=response.get("CustomerIdentifier") or None,
        agreement_id=(response.get("Metadata") or {}).get("AgreementId"),
    )
