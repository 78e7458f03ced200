"""ResolveCustomer: a registration token in, the customer it names out; botocore's errors become registration's.

The resolver's client has botocore retries off, so the resolver retries throttling and 5xx itself, with full-jitter
exponential backoff and an injectable sleep, and only while the invocation has time for another attempt
(``seconds_left``: the Lambda context's remaining time less what our answer needs): a slow Marketplace ends in our
"try again in a minute" page, never in API Gateway's raw timeout.
"""

from __future__ import annotations

import math
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
# 3 x (connect 2 s + read 5 s, the resolver's client: aws_clients.RESOLVE_CONFIG) + 2 x 1 s of backoff = 23 s at most,
# inside the registration function's 29 s; the remaining time is checked before each retry besides
MAX_ATTEMPTS = 3
BASE_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 1.0


def unlimited() -> float:
    return math.inf


class MarketplaceResolver:
    def __init__(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        max_attempts: int = MAX_ATTEMPTS,
        seconds_left: Callable[[], float] = unlimited,
        attempt_seconds: float = 0.0,
    ) -> None:
        """``seconds_left``: how long this invocation may still spend on ResolveCustomer; ``attempt_seconds``: how
        long one attempt may take (the client's connect and read timeouts). No retry starts that would not end in
        time."""
        self._client = client
        self._sleep = sleep
        self._jitter = jitter
        self._max_attempts = max_attempts
        self._seconds_left = seconds_left
        self._attempt_seconds = attempt_seconds

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
            delay = self._jitter(0, min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempt - 1)))
            if self._seconds_left() < delay + self._attempt_seconds:
                raise MarketplaceUnavailable(f"ResolveCustomer still failing after {attempt} attempts: out of time")
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _resolved(response: dict[str, Any]) -> ResolvedCustomer:
    return ResolvedCustomer(
        product_code=response["ProductCode"],
        customer_aws_account_id=response["CustomerAWSAccountId"],
        license_arn=response.get("LicenseArn") or None,
        customer_identifier=response.get("CustomerIdentifier") or None,
        agreement_id=(response.get("Metadata") or {}).get("AgreementId"),
    )
