"""A latency layer for the benchmarks only: a botocore event hook on one client that holds each request for a set
delay before it is sent, as a network round trip to DynamoDB would (a few milliseconds in-Region, where DynamoDB Local
on loopback answers in microseconds of network).

It is a ``before-send`` hook on the client's own event system (botocore's public hooks): the request itself and
everything after it are unchanged, and only the client it is attached to is slowed, never the product's code. Each
attempt pays the delay (a retry is another round trip). The sleep releases the GIL, so requests in flight on other
threads wait together, as they would on the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Latency:
    """``seconds`` added to every request of the clients it is attached to; change it between rounds."""

    seconds: float = 0.0

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send.dynamodb.*", self._wait)
        return client

    def _wait(self, **_: Any) -> None:
        if self.seconds > 0:
            time.sleep(self.seconds)
        # returning None lets botocore send the request as it is
