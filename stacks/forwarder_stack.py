"""us-east-1 only: forwards AWS Marketplace's events to the main Region's default bus, where the lifecycle rule is.

Marketplace delivers its EventBridge events only to the default bus in us-east-1; deployed elsewhere, the main stack
would never see them without this small stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.settings import Product
from stacks.constructs.lambda_code import acknowledge
from stacks.constructs.lifecycle import marketplace_event_patterns


class ForwarderStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, target_region: str, products: Sequence[Product], **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        target = events.EventBus.from_event_bus_arn(
            self, "MainRegionBus", f"arn:{Aws.PARTITION}:events:{target_region}:{Aws.ACCOUNT_ID}:event-bus/default"
        )
        # events EventBridge could not forward (after its own retries) wait here instead of being dropped
        self.undelivered = sqs.Queue(
            self,
            "Undelivered",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.undelivered, {"AwsSolutions-SQS3": "this queue is itself the rule target's dead-letter queue"})
        self.rules = {
            name: events.Rule(
                self,
                f"Forward{name}",
                event_pattern=pattern,
                targets=[targets.EventBus(target, dead_letter_queue=self.undelivered)],
                description=f"Forward AWS Marketplace {name[: -len('Events')].lower()} events to {target_region}",
            )
            for name, pattern in marketplace_event_patterns(products).items()
        }
