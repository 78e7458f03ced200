"""The one REST API every capability adds its routes to: throttled, access-logged, traced."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.lambda_code import acknowledge


class Api(Construct):
    """Routes are added by the capability constructs (``/usage``, ``/register``) to ``rest_api``."""

    def __init__(self, scope: Construct, construct_id: str, *, log_retention_days: int) -> None:
        super().__init__(scope, construct_id)
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(log_retention_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            description="AWS Marketplace SaaS metering: registration and usage",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigateway.StageOptions(
                stage_name="prod",
                throttling_rate_limit=100,
                throttling_burst_limit=200,
                tracing_enabled=True,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=False,  # a buyer's IP address is personal data: the fulfillment URL's requests log none
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        # Methods with a request model are checked here; bodies are validated field by field (each bad field
        # named) by the functions' own pydantic models.
        self.request_validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_parameters=True, validate_request_body=True
        )
        acknowledge(
            self,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": (
                    "the account-level role API Gateway uses to write execution/access logs; AWS maintains it"
                ),
                "AwsSolutions-APIG3": (
                    "the API is small and throttled at the stage; /usage is IAM-signed and /register is a one-shot "
                    "token exchange: a WAF web ACL can be attached per deployment if the seller wants one"
                ),
                "AwsSolutions-COG4": (
                    "no end-user pool exists: /usage is called by the seller's own IAM principals (SigV4) and the "
                    "registration routes are reached by Marketplace buyers carrying a Marketplace token"
                ),
            },
        )


# CloudWatch accepts only these retentions (days).
_RETENTIONS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """The shortest retention CloudWatch offers that keeps logs at least ``days`` days."""
    return next((_RETENTIONS[d] for d in sorted(_RETENTIONS) if d >= days), logs.RetentionDays.INFINITE)
