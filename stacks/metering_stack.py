"""The one stack: small constructs, one per capability."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from functions.settings import STACK_SETTINGS, Settings, settings_environment
from stacks.config import AppConfig
from stacks.constructs.api import Api, log_retention
from stacks.constructs.events import EventBus
from stacks.constructs.flush import Flush
from stacks.constructs.lambda_code import FunctionBase, dependencies_layer, function_code
from stacks.constructs.lifecycle import Lifecycle
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.registration import Registration
from stacks.constructs.tables import Tables
from stacks.constructs.usage_api import UsageApi
from stacks.constructs.waf import ApiFirewall
from stacks.schema import CONTACTS, CUSTOMERS, IDEMPOTENCY, METERING, USAGE


class MeteringStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        # with other metering Regions, their stacks read the customers table's replica by a cross-Region reference
        super().__init__(scope, construct_id, cross_region_references=bool(config.regions) or None, **kwargs)
        self.config = config
        self.tables = Tables(self, "Tables", replica_regions=config.regions)
        self.function_base = FunctionBase(
            code=function_code(),
            layer=dependencies_layer(self),
            environment=self.function_environment(),
            log_retention=log_retention(config.log_retention_days),
            snap_start=frozenset(config.snap_start),
            bills=config.settings.bills,
            open_telemetry_layer=config.open_telemetry_layers.get(config.region) if config.region else None,
        )
        self.api = Api(self, "Api", log_retention_days=config.log_retention_days)
        self.usage_api = UsageApi(
            self,
            "UsageApi",
            rest_api=self.api.rest_api,
            request_validator=self.api.request_validator,
            base=self.function_base,
            usage_table=self.tables.by_spec[USAGE],
            customers_table=self.tables.by_spec[CUSTOMERS],
        )
        self.flush = Flush(
            self,
            "Flush",
            schedule=config.flush_schedule,
            calls_per_second=config.settings.metering_calls_per_second,
            base=self.function_base,
            usage_table=self.tables.by_spec[USAGE],
            metering_table=self.tables.by_spec[METERING],
            customers_table=self.tables.by_spec[CUSTOMERS],
        )

        self.events = EventBus(self, "Events")
        self.lifecycle = Lifecycle(
            self,
            "Lifecycle",
            products=config.settings.products,
            base=self.function_base,
            customers_table=self.tables.by_spec[CUSTOMERS],
            usage_table=self.tables.by_spec[USAGE],
            metering_table=self.tables.by_spec[METERING],
            idempotency_table=self.tables.by_spec[IDEMPOTENCY],
            event_bus=self.events.bus,
        )
        self.registration = Registration(
            self,
            "Registration",
            rest_api=self.api.rest_api,
            base=self.function_base,
            customers_table=self.tables.by_spec[CUSTOMERS],
            contacts_table=self.tables.by_spec[CONTACTS],
            idempotency_table=self.tables.by_spec[IDEMPOTENCY],
            event_bus=self.events.bus,
            lifecycle_queue=self.lifecycle.queue,
        )
        if config.waf:
            self.firewall = ApiFirewall(self, "Firewall", stage=self.api.rest_api.deployment_stage)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions={
                "Flush": self.flush.function,
                "Usage": self.usage_api.function,
                "Registration": self.registration.function,
                "Lifecycle": self.lifecycle.function,
            },
            one_at_a_time=["Flush"],
            dead_letter_queues=self.lifecycle.dead_letter_queues,
            rest_api=self.api.rest_api,
            oldest_unsent_threshold_hours=config.oldest_unsent_alarm_hours,
            notification_email=config.notification_email,
            stage=config.settings.stage,
        )
        CfnOutput(
            self,
            "UsageApiUrl",
            value=self.api.rest_api.url_for_path("/usage"),
            description="POST usage events here, SigV4-signed by an IAM principal allowed execute-api:Invoke",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn, description="Alarm notifications")
        CfnOutput(
            self,
            "ContactsTableName",
            value=self.tables.by_spec[CONTACTS].table_name,
            description="Buyers' contact details: GetItem pk=<customer_key of Customer Details Submitted>, sk=CONTACT",
        )

    def function_environment(self) -> dict[str, str]:
        """What every function reads through functions.settings: the tables and the seller's stack-wide settings."""
        # the lifecycle asks each other metering Region for a leaving buyer's final usage there
        regions = settings_environment(
            Settings(other_metering_regions=self.config.regions), only=["other_metering_regions"]
        )
        return {
            **self.tables.environment(),
            **settings_environment(self.config.settings, only=STACK_SETTINGS),
            **(regions if self.config.regions else {}),
        }
