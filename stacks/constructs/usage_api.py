"""``POST /usage``: the seller's own services (IAM-signed) record usage events."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.lambda_code import FunctionBase, invocation_target, python_function

HANDLER = "functions.handlers.usage.handler"


class UsageApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigateway.RestApi,
        request_validator: apigateway.IRequestValidator,
        base: FunctionBase,
        usage_table: dynamodb.ITableV2,
        customers_table: dynamodb.ITableV2,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            handler=HANDLER,
            base=base,
            description="POST /usage: validate and record usage events exactly once",
        )
        # Exactly the calls the code makes: conditional puts per event (its identity, then the event), as PartiQL
        # INSERTs in batches (BatchExecuteStatement is authorized per statement: PartiQLInsert), a PutItem taking over
        # an identity whose lifetime is over, a claim undone (DeleteItem) when the batch is refused, and a resend's
        # checks (GetItem of the event, BatchGetItem of identities: functions/usage/once.py); the batch's customers
        # and their lifecycle items read together (consistent BatchGetItem).
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:PartiQLInsert",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                ],
                resources=[usage_table.table_arn],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:BatchGetItem"], resources=[customers_table.table_arn])
        )

        self.target = invocation_target(self.function, base, HANDLER)
        resource = rest_api.root.add_resource("usage")
        self.method = resource.add_method(
            "POST",
            apigateway.LambdaIntegration(self.target),
            authorization_type=apigateway.AuthorizationType.IAM,
            request_validator=request_validator,
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let a producer (a role of the seller's services) call ``POST /usage``."""
        return self.method.grant_execute(grantee)
