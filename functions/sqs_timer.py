"""A timer as SQS gives one: a message delivered to the lifecycle queue after a delay of up to 15 minutes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.registration.free_trial import TimerUnavailable


class SqsTimer:
    MAX_DELAY_SECONDS = 900

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def schedule(self, body: str, delay_seconds: int) -> None:
        delay = min(self.MAX_DELAY_SECONDS, max(0, delay_seconds))
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=delay)
        except ClientError as error:
            raise TimerUnavailable(error.response.get("Error", {}).get("Code", "Unknown")) from None
        except BotoCoreError as error:
            raise TimerUnavailable(type(error).__name__) from None
