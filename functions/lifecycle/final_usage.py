"""A leaving buyer's timer: a delayed message to the lifecycle queue naming the customer (SQS delays are at most 15
minutes, so a long wait hops), and sending their final usage through the flush (``functions.flush.customer``, which
the composition root hands in). The timing is ``functions.lifecycle.service.Lifecycle.continue_ending``'s."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from functions.customers.model import Customer, CustomerRef

FINAL_USAGE = "final_usage"
# seal and send a customer's unsent usage now (``functions.flush.customer.send_customer_usage`` with its deps)
SendUsage = Callable[[Customer, Callable[[], bool]], None]


def final_usage_message(ref: CustomerRef) -> str:
    """The body of the delayed message that runs the final-usage step (on the lifecycle queue itself)."""
    return json.dumps(
        {
            FINAL_USAGE: {
                "product_code": ref.product_code,
                "license_arn": ref.license_arn,
                "customer_identifier": ref.customer_identifier,
            }
        }
    )


def requested_final_usage(body: str) -> CustomerRef | None:
    """The customer a final-usage message names; None for any other message."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not ours: the notification parser says what is wrong with it
        return None
    if not isinstance(document, dict) or FINAL_USAGE not in document:
        return None
    request = document[FINAL_USAGE]
    try:
        return CustomerRef(
            product_code=str(request["product_code"]),
            license_arn=request.get("license_arn"),
            customer_identifier=request.get("customer_identifier"),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"final_usage: not a customer reference ({error})") from None


class SqsFinalUsage:
    """The leaving buyer's timer is a message to the lifecycle queue, delayed at most as long as SQS allows; sending
    is the flush's (``send``)."""

    MAX_DELAY_SECONDS = 900

    def __init__(self, client: Any, queue_url: str, send: SendUsage) -> None:
        self._client = client
        self._queue_url = queue_url
        self.send = send

    def schedule(self, ref: CustomerRef, delay_seconds: float) -> None:
        delay = min(self.MAX_DELAY_SECONDS, max(0, math.ceil(delay_seconds)))
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=final_usage_message(ref), DelaySeconds=delay)
