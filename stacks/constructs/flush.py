"""The flush: one submitter (reserved concurrency 1), on the configured schedule, allowed BatchMeterUsage when the
stack meters live."""

from __future__ import annotations

from decimal import Decimal

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.flush.customer import FINAL_USAGE_REQUESTS
from functions.flush.service import MONTH_END_CUTOFF, MONTH_END_RUNS_EVERY
from functions.settings import FINAL_USAGE_REQUESTS_EVERY_MINUTES
from stacks.constructs.lambda_code import FunctionBase, acknowledge, invocation_target, python_function

HANDLER = "functions.handlers.flush.handler"
# The flush spends about 5.5 ms of CPU on each call it makes (the request, its outcomes' write, the shared schedule;
# bench/sharded_hour.py): at 1,024 MB (0.58 of a vCPU) about 100 calls/s. A quota raised past half of that gets
# 2,048 MB (1.16 vCPU: one Python process uses one), enough for the 200 calls/s functions.settings allows.
RAISED_QUOTA_CALLS_PER_SECOND = Decimal(50)


def flush_memory_mb(calls_per_second: Decimal) -> int:
    return 1024 if calls_per_second <= RAISED_QUOTA_CALLS_PER_SECOND else 2048


class Flush(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schedule: str,
        base: FunctionBase,
        usage_table: dynamodb.ITableV2,
        metering_table: dynamodb.ITableV2,
        customers_table: dynamodb.ITableV2,
        calls_per_second: Decimal,
        answers_final_usage_requests: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            handler=HANDLER,
            base=base,
            timeout_seconds=900,
            memory_size=flush_memory_mb(calls_per_second),
            reserved_concurrent_executions=1,  # one submitter per account: the rate limit holds account-wide
            description="Seal closed usage hours and send them with BatchMeterUsage, exactly once",
        )
        _grant_sending(self.function, usage_table, metering_table, bills=base.bills)
        # zero-usage records list the customers (only for products that ask for them); the hourly reconciliation
        # (when live) reads whether a result CloudTrail shows is one of our customers'
        reads = ["dynamodb:BatchGetItem"] if base.bills else []
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:Scan", *reads], resources=[customers_table.table_arn])
        )
        if base.bills:
            # the hourly reconciliation of a settled hour reads CloudTrail's event history (a stage that never bills
            # has nothing to reconcile and is not granted it)
            self.function.add_to_role_policy(iam.PolicyStatement(actions=["cloudtrail:LookupEvents"], resources=["*"]))
        # Continuing a backlog: the function invokes itself. A policy of its own, not the role's default policy
        # (which the function depends on), so naming the function's ARN makes no dependency cycle.
        # The continuation invokes what the schedule invoked: the function, or its SnapStart alias.
        self.target = invocation_target(self.function, base, HANDLER)
        iam.Policy(
            self,
            "ContinueBacklog",
            roles=[self.function.role] if self.function.role else [],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.target.function_arn])],
        )
        acknowledge(
            self.function,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "aws-marketplace:BatchMeterUsage and cloudtrail:LookupEvents (both granted when metering live) "
                    "support no resource-level permissions (resource must be *); X-Ray's trace actions likewise"
                ),
            },
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.expression(schedule),
            targets=[targets.LambdaFunction(self.target, retry_attempts=2)],
            description="Meter closed usage hours",
        )
        # last month's records are taken only until the cutoff on the 1st: more runs that morning, so a Marketplace
        # outage over the scheduled run before it does not forfeit them
        self.month_end_rule = events.Rule(
            self,
            "MonthEndSchedule",
            schedule=events.Schedule.cron(
                minute=f"0/{MONTH_END_RUNS_EVERY.seconds // 60}",
                hour=f"0-{MONTH_END_CUTOFF.seconds // 3600 - 1}",
                day="1",
            ),
            targets=[targets.LambdaFunction(self.target, retry_attempts=2)],
            description="Meter last month's hours again before Marketplace's month-end cutoff",
        )
        if answers_final_usage_requests:
            self.final_usage_function = self._final_usage_answers(base, usage_table, metering_table, customers_table)

    def _final_usage_answers(
        self,
        base: FunctionBase,
        usage_table: dynamodb.ITableV2,
        metering_table: dynamodb.ITableV2,
        customers_table: dynamodb.ITableV2,
    ) -> lambda_.Function:
        """Another metering Region: what the main Region's lifecycle asks of it (a leaving buyer's usage, to send
        within their final hour) is read, and answered, in the customers table's replica here, every 5 minutes.

        By a function of its own, as the main Region's lifecycle worker sends its final usage beside the flush (both
        take their calls' times from the shared quota schedule): the flush runs one at a time for up to 15 minutes,
        and a tick invoking it while it ran would wait in Lambda's queue, maybe past the buyer's final hour."""
        function = python_function(
            self,
            "FinalUsageFunction",
            handler=HANDLER,
            base=base,
            timeout_seconds=FINAL_USAGE_REQUESTS_EVERY_MINUTES * 60,
            memory_size=1024,
            reserved_concurrent_executions=1,  # one tick at a time: each answers every request it finds
            description="Send the final usage of leaving buyers the main Region asks for, beside the flush",
        )
        _grant_sending(function, usage_table, metering_table, bills=base.bills)
        # whether a buyer asked about is still leaving (read), and the requests (read, and answered: deleted)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DeleteItem"],
                resources=[customers_table.table_arn],
            )
        )
        self.final_usage_rule = events.Rule(
            self,
            "FinalUsageSchedule",
            schedule=events.Schedule.rate(Duration.minutes(FINAL_USAGE_REQUESTS_EVERY_MINUTES)),
            targets=[
                targets.LambdaFunction(
                    invocation_target(function, base, HANDLER),
                    event=events.RuleTargetInput.from_object({FINAL_USAGE_REQUESTS: True}),
                    retry_attempts=2,
                )
            ],
            description="Send the final usage the main Region asks for (leaving buyers)",
        )
        acknowledge(
            function,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "aws-marketplace:BatchMeterUsage (granted when metering live) supports no resource-level "
                    "permissions (resource must be *); X-Ray's trace actions likewise"
                ),
            },
        )
        return function


def _grant_sending(
    function: lambda_.Function, usage_table: dynamodb.ITableV2, metering_table: dynamodb.ITableV2, *, bills: bool
) -> None:
    """What sealing and sending usage takes: the usage table read, the metering ledger (and the shared quota schedule
    in it) written, BatchMeterUsage when the stack meters live."""
    role_policy = function.add_to_role_policy
    role_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=[usage_table.table_arn]))
    role_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{usage_table.table_arn}/index/gsi1"]))
    role_policy(
        iam.PolicyStatement(
            actions=[
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            ],
            resources=[metering_table.table_arn],
        )
    )
    if bills:
        role_policy(iam.PolicyStatement(actions=["aws-marketplace:BatchMeterUsage"], resources=["*"]))
