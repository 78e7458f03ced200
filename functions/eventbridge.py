"""The seller events' publisher in AWS: PutEvents on the stack's event bus, botocore's errors become ours."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.seller_events import EVENT_SOURCE, DomainEvent, PublishFailed


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, event: DomainEvent) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail, separators=(",", ":"), sort_keys=True),
            "EventBusName": self._bus_name,
        }
        try:
            response = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise PublishFailed(f"PutEvents failed: {type(error).__name__}") from error
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise PublishFailed(f"PutEvents rejected the event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}")
