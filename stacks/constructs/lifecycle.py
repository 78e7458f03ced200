"""Lifecycle notifications in: the Marketplace EventBridge rule and the legacy SNS topics, one encrypted queue with a
dead-letter queue, and the one handler (partial batch failures) allowed exactly what it calls."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.lifecycle.notifications import (
    ENTITLEMENT_TOPIC_PREFIX,
    LICENSE_DETAIL_TYPES,
    MARKETPLACE_SNS_ACCOUNT,
    MARKETPLACE_SOURCE,
    SUBSCRIPTION_TOPIC_PREFIX,
)
from functions.settings import Product
from stacks.constructs.lambda_code import FunctionBase, acknowledge, invocation_target, python_function
from stacks.constructs.registration import read_agreement_terms

HANDLER = "functions.handlers.lifecycle.handler"
TIMEOUT_SECONDS = 120
MARKETPLACE_REGION = "us-east-1"  # where Marketplace sends its events and hosts the legacy topics


def marketplace_event_patterns(products: Sequence[Product]) -> dict[str, events.EventPattern]:
    """Marketplace's events for us, one rule each: every event of the source but licence events (agreement events
    name no product: AWS sends them to the seller's account only, and the handler links them to buyers by agreement
    id; a type AWS adds later reaches the handler too, which logs and counts it, instead of being dropped by the rule),
    and licence events of our products by product code (which every licence event carries)."""
    return {
        "AgreementEvents": events.EventPattern(
            source=[MARKETPLACE_SOURCE], detail_type=events.Match.anything_but(*LICENSE_DETAIL_TYPES)
        ),
        "LicenseEvents": events.EventPattern(
            source=[MARKETPLACE_SOURCE],
            detail_type=list(LICENSE_DETAIL_TYPES),
            detail={"product": {"code": [p.code for p in products]}},
        ),
    }


def queue_pair(scope: Construct, name: str, *, visibility_timeout: Duration) -> tuple[sqs.Queue, sqs.Queue]:
    dead_letters = sqs.Queue(
        scope,
        f"{name}DeadLetters",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    queue = sqs.Queue(
        scope,
        name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=5),
    )
    return queue, dead_letters


class Lifecycle(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        products: Sequence[Product],
        base: FunctionBase,
        customers_table: dynamodb.ITableV2,
        usage_table: dynamodb.ITableV2,
        metering_table: dynamodb.ITableV2,
        idempotency_table: dynamodb.ITableV2,
        event_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        # six times the function timeout, as Lambda advises for SQS sources
        self.queue, dead_letters = queue_pair(
            self, "Notifications", visibility_timeout=Duration.seconds(6 * TIMEOUT_SECONDS)
        )
        self.dead_letter_queues: dict[str, sqs.IQueue] = {"LifecycleNotifications": dead_letters}
        acknowledge(
            dead_letters,
            {"AwsSolutions-SQS3": "this is the dead-letter queue of the lifecycle notifications queue"},
        )

        # In us-east-1 Marketplace's events are on this default bus; elsewhere the forwarder stack puts them here.
        self.rules = {
            name: events.Rule(
                self,
                name,
                event_pattern=pattern,
                targets=[targets.SqsQueue(self.queue)],
                description=f"AWS Marketplace {name[: -len('Events')].lower()} events for our products",
            )
            for name, pattern in marketplace_event_patterns(products).items()
        }
        for product in products:
            if product.legacy_sns:
                for prefix in (SUBSCRIPTION_TOPIC_PREFIX, ENTITLEMENT_TOPIC_PREFIX):
                    arn = f"arn:aws:sns:{MARKETPLACE_REGION}:{MARKETPLACE_SNS_ACCOUNT}:{prefix}{product.code}"
                    topic = sns.Topic.from_topic_arn(self, f"{prefix}{product.code}", arn)
                    topic.add_subscription(subscriptions.SqsSubscription(self.queue))

        self.function = python_function(
            self,
            "Function",
            handler=HANDLER,
            base=base,
            environment={
                "EVENT_BUS_NAME": event_bus.event_bus_name,
                "LIFECYCLE_QUEUE_URL": self.queue.queue_url,
            },
            timeout_seconds=TIMEOUT_SECONDS,
            description="Subscription lifecycle: state, final usage, entitlements, customer events",
        )
        self.target = invocation_target(self.function, base, HANDLER)
        self.target.add_event_source(sources.SqsEventSource(self.queue, batch_size=10, report_batch_item_failures=True))
        # the delayed final-usage step is a message to this same queue
        self.queue.grant_send_messages(self.function)
        event_bus.grant_put_events_to(self.function)
        self._grant_tables(customers_table, usage_table, metering_table, idempotency_table)
        marketplace_actions = ["aws-marketplace:GetEntitlements"]
        if base.bills:  # a leaving buyer's final usage
            marketplace_actions.append("aws-marketplace:BatchMeterUsage")
        self.function.add_to_role_policy(iam.PolicyStatement(actions=marketplace_actions, resources=["*"]))
        # a free-trial claim registration could not confirm is checked again here (its timer on this queue)
        self.function.add_to_role_policy(read_agreement_terms())
        # an agreement event naming no registered buyer: its licence (as AWS's Agreement API example grants it)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["aws-marketplace:GetAgreementEntitlements"],
                resources=["*"],
                conditions={"ForAllValues:StringEquals": {"aws-marketplace:AgreementType": ["PurchaseAgreement"]}},
            )
        )
        acknowledge(
            self.function,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "aws-marketplace:GetEntitlements, BatchMeterUsage, GetAgreementTerms and GetAgreementEntitlements "
                    "support no resource-level permissions (resource must be *; the Agreement Service's reads only for "
                    "purchase agreements, GetAgreementTerms only those the seller proposed); X-Ray's trace actions "
                    "likewise"
                ),
            },
        )

    def _grant_tables(
        self,
        customers: dynamodb.ITableV2,
        usage: dynamodb.ITableV2,
        metering: dynamodb.ITableV2,
        idempotency: dynamodb.ITableV2,
    ) -> None:
        """Exactly the calls the code makes: lifecycle items and customers; the final usage reads usage hours
        and the metering cursor and writes its records; Powertools idempotency on its table."""
        grants = [
            (["dynamodb:UpdateItem", "dynamodb:BatchGetItem"], customers.table_arn),
            (["dynamodb:Query"], f"{customers.table_arn}/index/gsi1"),
            (["dynamodb:Query"], usage.table_arn),
            (["dynamodb:Query"], f"{usage.table_arn}/index/gsi1"),
            (
                ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"],
                metering.table_arn,
            ),
            (
                ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                idempotency.table_arn,
            ),
        ]
        for actions, resource in grants:
            self.function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
