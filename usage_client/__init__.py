"""A producer client for the usage API: ``UsageClient(usage_api_url).send([usage_event(...)])``.

Its own package, outside the Lambda code (``functions/``): it needs only botocore/boto3 (for SigV4) and the standard
library. ``usage_client/client.py`` says what it does; ``usage_client/limits.py`` is generated from the API.
"""

from usage_client.client import (
    EventsRejected,
    Rejection,
    SendResult,
    UsageApiError,
    UsageApiUnavailable,
    UsageClient,
    UsageClientError,
    usage_event,
)

__all__ = [
    "EventsRejected",
    "Rejection",
    "SendResult",
    "UsageApiError",
    "UsageApiUnavailable",
    "UsageClient",
    "UsageClientError",
    "usage_event",
]
