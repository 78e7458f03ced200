"""Alarms (to one SNS topic, optionally e-mailed) and a dashboard for the metering integration."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.observability import METRICS_NAMESPACE, SERVICE

FIVE_MINUTES = Duration.minutes(5)


def stage_metric(name: str, *, statistic: str = "Sum", **dimensions: str) -> cloudwatch.Metric:
    """A metric our functions emit with Powertools Metrics (EMF): namespace and service dimension as there."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE, **dimensions},
        statistic=statistic,
        period=FIVE_MINUTES,
    )


@dataclass(frozen=True)
class AppAlarm:
    name: str
    metric: cloudwatch.IMetric
    threshold: float
    description: str


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.IFunction],
        one_at_a_time: Collection[str] = (),
        dead_letter_queues: dict[str, sqs.IQueue],
        rest_api: apigateway.RestApi,
        oldest_unsent_threshold_hours: float,
        notification_email: str | None,
        stage: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # a stage's functions tag their metrics with it (functions.observability.for_stage): its alarms watch its own
        stage_dimension = {"stage": stage} if stage else {}

        def app_metric(name: str, *, statistic: str = "Sum") -> cloudwatch.Metric:
            return stage_metric(name, statistic=statistic, **stage_dimension)

        search_dimensions = "reason,service,stage" if stage else "reason,service"
        search_stage = f' stage="{stage}"' if stage else ""

        self.topic = sns.Topic(self, "AlarmTopic", display_name="Marketplace metering alarms", enforce_ssl=True)
        if notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notification_email))
        alarm_action = actions.SnsAction(self.topic)

        alarms = [
            AppAlarm(
                "RecordsFailed",
                app_metric("RecordsFailed"),
                1,
                "metering records were parked as failed or refused (customer not subscribed, duplicate, invalid)",
            ),
            AppAlarm(
                "UnprocessedPending",
                app_metric("RecordsUnprocessedAfterRetries"),
                1,
                "Marketplace left records unprocessed after every retry of a flush",
            ),
            AppAlarm(
                "SealedTotalMismatch",
                app_metric("SealedTotalMismatch"),
                1,
                "usage landed in an hour after its total was stored (slower than the in-flight margin): not billed",
            ),
            AppAlarm(
                "ReconciliationMismatch",
                app_metric("ReconciliationMismatches"),
                1,
                "the hourly reconciliation found a sealed record AWS did not bill as sealed, or a billed one we hold "
                "no record of (cli reconcile names them)",
            ),
            AppAlarm(
                "ReconciliationBehind",
                app_metric("ReconciliationHoursBehind", statistic="Maximum"),
                4,
                "the reconciliation is more than 3 hours behind the hours that have settled: hours are waiting for "
                "records not sent yet, or runs failed (the flush's log says what it waits for)",
            ),
            AppAlarm(
                "ReconciliationUnavailable",
                app_metric("ReconciliationUnavailable"),
                1,
                "the hourly reconciliation could not read CloudTrail's event history",
            ),
            AppAlarm(
                "FreeTrialClaimsUnconfirmed",
                app_metric("FreeTrialClaimsUnconfirmed"),
                1,
                "a buyer's free-trial claim stayed unconfirmed a day after registration (GetAgreementTerms failing)",
            ),
            AppAlarm(
                "AgreementAdvisoryIssued",
                app_metric("AgreementAdvisoriesIssued"),
                1,
                "AWS Marketplace issued an advisory on a buyer's agreement (it suspects fraud or abuse, or the buyer's "
                "account closed): `cli customers` names the buyer; the seller's systems got Customer Advisory Issued",
            ),
            AppAlarm(
                "BillingAdjustmentFailed",
                app_metric("BillingAdjustmentsFailed"),
                1,
                "a refund (billing adjustment) the seller asked for failed AWS Marketplace's validation: nothing was "
                "refunded (`cli customers` and the month report name it; propose it again with `cli adjust`)",
            ),
            AppAlarm(
                "UnknownMarketplaceEvent",
                app_metric("UnknownMarketplaceEvents"),
                1,
                "AWS Marketplace sent an event type this code does not know (the lifecycle function logged its "
                "detail-type): acknowledged, nothing done with it",
            ),
            AppAlarm(
                "RegistrationEventsNotPublished",
                app_metric("RegistrationEventsNotPublished"),
                1,
                "registration could not publish a seller event (EventBridge failing): it is sent again from the "
                "lifecycle queue; its dead-letter queue, or a 'seller event lost' log line, says one never arrived",
            ),
            AppAlarm(
                "OldestUnsentUsage",
                app_metric("OldestUnsentHourAgeSeconds", statistic="Maximum"),
                oldest_unsent_threshold_hours * 3600,
                "unsent usage is getting close to Marketplace's 24-hour limit",
            ),
            AppAlarm(
                "Api5xx",
                rest_api.metric_server_error(period=FIVE_MINUTES),
                1,
                "the API answered 5xx (our fault, never a client's)",
            ),
        ]
        for name, function in functions.items():
            alarms.append(
                AppAlarm(f"{name}Errors", function.metric_errors(period=FIVE_MINUTES), 1, f"{name} raised errors")
            )
            if name in one_at_a_time:
                # reserved concurrency 1: a run invoked while another runs (a continuation, a tick during a long run)
                # is throttled and kept in Lambda's queue, retried for up to 6 hours; only a run given up is lost
                dropped = function.metric("AsyncEventsDropped", period=FIVE_MINUTES, statistic="Sum")
                alarms.append(AppAlarm(f"{name}RunsDropped", dropped, 1, f"Lambda gave up a {name} run unrun"))
            else:
                throttles = function.metric_throttles(period=FIVE_MINUTES)
                alarms.append(AppAlarm(f"{name}Throttles", throttles, 1, f"{name} was throttled"))
        for name, queue in dead_letter_queues.items():
            alarms.append(
                AppAlarm(
                    f"{name}Depth",
                    queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
                    1,
                    f"messages reached the dead-letter queue {name}",
                )
            )
        for alarm in alarms:
            cloudwatch.Alarm(
                self,
                alarm.name,
                metric=alarm.metric,
                threshold=alarm.threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=alarm.description,
            ).add_alarm_action(alarm_action)

        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(24))
        hourly = Duration.hours(1)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Usage events received", left=[app_metric("UsageEventsAccepted").with_(period=hourly)]
            ),
            cloudwatch.GraphWidget(
                title="Records metered per hour",
                left=[
                    app_metric("RecordsSent").with_(period=hourly),
                    app_metric("RecordsSucceeded").with_(period=hourly),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Failures by reason",
                left=[
                    cloudwatch.MathExpression(
                        expression=(
                            f'SEARCH(\'{{{METRICS_NAMESPACE},{search_dimensions}}} MetricName="RecordsFailed"'
                            f"{search_stage}', 'Sum', 3600)"
                        ),
                        label="",
                        period=hourly,
                    )
                ],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Flush duration (ms)",
                left=[functions["Flush"].metric_duration(period=hourly, statistic="Maximum")],
            ),
            cloudwatch.GraphWidget(
                title="Lag: oldest unsent hour (s)",
                left=[app_metric("OldestUnsentHourAgeSeconds", statistic="Maximum").with_(period=hourly)],
            ),
            cloudwatch.GraphWidget(
                title="Reconciliation mismatches (the hour closed 2 h before each flush, against CloudTrail)",
                left=[app_metric("ReconciliationMismatches").with_(period=hourly)],
            ),
        )
