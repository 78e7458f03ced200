"""A metering stack of another Region (cdk.json `regions`): BatchMeterUsage's quota (per account and Region) and its
deduplication are per Region, so a seller may meter where the usage happens.

It holds what metering needs in its Region: the usage API, the usage and metering tables and the flush. Buyers are
checked against the Region's replica of the main stack's customers table (a DynamoDB global table), which the main
stack's lifecycle keeps current; personal data (the Contacts table) stays in the main stack's Region.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from functions.settings import STACK_SETTINGS, Settings, settings_environment
from stacks.config import AppConfig
from stacks.constructs.api import Api, log_retention
from stacks.constructs.flush import Flush
from stacks.constructs.lambda_code import FunctionBase, dependencies_layer, function_code
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.tables import Tables
from stacks.constructs.usage_api import UsageApi
from stacks.schema import METERING, REGIONAL_TABLES, USAGE


class RegionalMeteringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        customers: dynamodb.ITableV2,
        **kwargs: Any,
    ) -> None:
        # the customers replica's name comes from the main stack, in another Region
        super().__init__(scope, construct_id, cross_region_references=True, **kwargs)
        self.tables = Tables(self, "Tables", specs=REGIONAL_TABLES)
        self.customers = customers
        replica = Settings(customers_table=customers.table_name, customers_replica=True)
        base = FunctionBase(
            code=function_code(),
            layer=dependencies_layer(self),
            environment={
                **self.tables.environment(),
                **settings_environment(replica, only=["customers_table", "customers_replica"]),
                **settings_environment(config.settings, only=STACK_SETTINGS),
            },
            log_retention=log_retention(config.log_retention_days),
            snap_start=frozenset(config.snap_start) & {"usage", "flush"},
            bills=config.settings.bills,
            open_telemetry_layer=config.open_telemetry_layers.get(self.region),
        )
        self.api = Api(self, "Api", log_retention_days=config.log_retention_days)
        self.usage_api = UsageApi(
            self,
            "UsageApi",
            rest_api=self.api.rest_api,
            request_validator=self.api.request_validator,
            base=base,
            usage_table=self.tables.by_spec[USAGE],
            customers_table=customers,
        )
        self.flush = Flush(
            self,
            "Flush",
            schedule=config.flush_schedule,
            calls_per_second=config.settings.metering_calls_per_second,
            base=base,
            usage_table=self.tables.by_spec[USAGE],
            metering_table=self.tables.by_spec[METERING],
            customers_table=customers,
            answers_final_usage_requests=True,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions={
                "Flush": self.flush.function,
                "FinalUsage": self.flush.final_usage_function,
                "Usage": self.usage_api.function,
            },
            one_at_a_time=["Flush", "FinalUsage"],
            dead_letter_queues={},
            rest_api=self.api.rest_api,
            oldest_unsent_threshold_hours=config.oldest_unsent_alarm_hours,
            notification_email=config.notification_email,
            stage=config.settings.stage,
        )
        CfnOutput(
            self,
            "UsageApiUrl",
            value=self.api.rest_api.url_for_path("/usage"),
            description="POST this Region's usage events here, SigV4-signed (execute-api:Invoke)",
        )
