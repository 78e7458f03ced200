"""Lambda's SQS event source, locally: poll a queue with the SQS API and invoke a function with each batch, as the
event source mapping of the synthesized template does.

    source = SqsEventSource(sqs, queue_url, queue_arn, invoke=lambda event: handler(event, context)).start()
    source.drain()  # returns once nothing is visible in the queue and no batch is being handled

What Lambda does, and so this does: ``ReceiveMessage`` (up to the batch size, every system attribute); the records
in Lambda's shape; with ``ReportBatchItemFailures`` the messages the function names in ``batchItemFailures`` stay in
the queue and the rest are deleted (``DeleteMessage``), a function error keeps the whole batch; kept messages come back
when their visibility timeout has passed, and after the queue's ``maxReceiveCount`` the queue's redrive policy moves
them to its dead-letter queue (the engine does that, not this).

Polls are short (``WaitTimeSeconds=0``) with a pause when the queue is empty, so "nothing received" and "nothing in
hand" can be told apart, which :meth:`SqsEventSource.drain` relies on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Self

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.1  # the pause between polls of an empty queue (real time)


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One received message as a record of Lambda's SQS event."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsEventSource:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Callable[[dict[str, Any]], Any],
        *,
        batch_size: int = 10,
        reports_item_failures: bool = True,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self._invoke = invoke
        self._batch_size = batch_size
        self._reports_item_failures = reports_item_failures
        self._region = queue_arn.split(":")[3]
        self._busy = threading.Lock()  # held from each ReceiveMessage until its batch is settled
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0  # messages handed to the function, retries included
        self.failed = 0  # of those, the ones kept for a retry

    def poll_once(self) -> int:
        """Receive one batch and hand it to the function; the number of messages received."""
        with self._busy:
            messages = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self._batch_size,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if messages:
                self._settle(messages)
            return len(messages)

    def _settle(self, messages: list[dict[str, Any]]) -> None:
        records = [lambda_record(m, self.queue_arn, self._region) for m in messages]
        self.delivered += len(records)
        try:
            answer = self._invoke({"Records": records})
        except Exception:
            log.exception("the function failed: its batch of %d stays in the queue", len(records))
            self.failed += len(records)
            return
        kept: set[str] = set()
        if self._reports_item_failures and isinstance(answer, dict):
            kept = {str(f.get("itemIdentifier")) for f in answer.get("batchItemFailures") or []}
            if kept - {r["messageId"] for r in records}:
                # as Lambda does: a failure naming no message of the batch (missing, empty, unknown) fails it all
                log.error("batchItemFailures names no message of the batch: its batch of %d stays", len(records))
                kept = {r["messageId"] for r in records}
        self.failed += len(kept)
        done = [r for r in records if r["messageId"] not in kept]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done[start : start + 10])
            ]
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def visible(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def drain(self, timeout: float = 30.0) -> None:
        """Return once no message is visible and no batch is in hand (messages still delayed, or kept after a failure
        until their visibility timeout, are not waited for); TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            # visible first: a message received after this reading was not visible in it, so the poller holds
            # ``_busy`` from before that receive until the message is settled
            if self.visible() == 0 and self._busy.acquire(blocking=False):
                self._busy.release()
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.queue_url}: {self.visible()} messages still visible after {timeout}s")
            time.sleep(IDLE_SECONDS / 2)

    def start(self) -> Self:
        self._stopped.clear()
        self._thread = threading.Thread(target=self._poll, name="sqs-event-source", daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stopped.is_set():
            try:
                received = self.poll_once()
            except Exception:  # the engine going away on stop, say: keep polling until told to stop
                log.exception("polling %s failed", self.queue_url)
                received = 0
            if not received:
                self._stopped.wait(IDLE_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
