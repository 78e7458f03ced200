"""The fulfillment URL: public ``/register`` routes, the function resolving buyers, its signing secret."""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.lambda_code import FunctionBase, acknowledge, invocation_target, python_function

HANDLER = "functions.handlers.registration.handler"


def read_agreement_terms() -> iam.PolicyStatement:
    """GetAgreementTerms as AWS grants it to sellers (managed policy AWSMarketplaceSellerFullAccess, and the seller
    guide's agreement permissions example): on "*", narrowed to purchase agreements the seller proposed. A channel
    partner's agreement is refused either way (the seller is no party to it), and only public offers have free trials.
    """
    return iam.PolicyStatement(
        actions=["aws-marketplace:GetAgreementTerms"],
        resources=["*"],
        conditions={
            "StringEquals": {"aws-marketplace:PartyType": "Proposer"},
            "ForAllValues:StringEquals": {"aws-marketplace:AgreementType": ["PurchaseAgreement"]},
        },
    )


class Registration(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigateway.RestApi,
        base: FunctionBase,
        customers_table: dynamodb.ITableV2,
        contacts_table: dynamodb.ITableV2,
        idempotency_table: dynamodb.ITableV2,
        event_bus: events.IEventBus,
        lifecycle_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.signing_secret = secretsmanager.Secret(
            self,
            "SigningSecret",
            description="HMAC key binding the onboarding form (and a seller's sign-up link) to the registered buyer",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        self.function = python_function(
            self,
            "Function",
            handler=HANDLER,
            base=base,
            environment={
                "EVENT_BUS_NAME": event_bus.event_bus_name,
                "SIGNING_SECRET_ARN": self.signing_secret.secret_arn,
                "LIFECYCLE_QUEUE_URL": lifecycle_queue.queue_url,
            },
            description="Fulfillment URL: ResolveCustomer, store the buyer, onboarding form",
        )
        # Exactly the calls the code makes: UpdateItem (upsert, spending the form, the seller's tenant link) on
        # customers and BatchGetItem of the buyer's lifecycle items (events that came before the
        # registration); PutItem of the form's answers in the contacts table (personal data apart, in one transaction
        # with the form spent); Powertools idempotency's get/put/update/delete on its table; one secret read;
        # PutEvents on our bus; ResolveCustomer; GetAgreementTerms (is the buyer's free trial real); SendMessage to the
        # lifecycle queue (a free-trial claim to check again later).
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem", "dynamodb:BatchGetItem"], resources=[customers_table.table_arn]
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[contacts_table.table_arn])
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[idempotency_table.table_arn],
            )
        )
        self.signing_secret.grant_read(self.function)
        event_bus.grant_put_events_to(self.function)
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["aws-marketplace:ResolveCustomer"], resources=["*"])
        )
        self.function.add_to_role_policy(read_agreement_terms())
        # a free-trial claim whose terms could not be read is checked again later: a delayed message to the lifecycle
        # queue, whose function runs the check
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[lifecycle_queue.queue_arn])
        )

        self.target = invocation_target(self.function, base, HANDLER)
        integration = apigateway.LambdaIntegration(self.target)
        register = rest_api.root.add_resource("register")
        complete = register.add_resource("complete")
        signup = register.add_resource("signup")
        tenant = register.add_resource("tenant")
        self.methods = [
            resource.add_method(verb, integration)
            for resource in (register, complete, signup, tenant)
            for verb in ("POST", "GET")
        ]
        public = (
            "The fulfillment URL is public by AWS Marketplace's design: the buyer's browser posts the registration "
            "token there. The token (checked by ResolveCustomer) and the HMAC-signed form value are the "
            "authorization; the seller's back end signs its sign-up exchange and tenant link with the registration "
            "secret, each single use."
        )
        for method in self.methods:
            acknowledge(method, {"AwsSolutions-APIG4": public, "AwsSolutions-COG4": public})
        acknowledge(
            self.function,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "aws-marketplace:ResolveCustomer and aws-marketplace:GetAgreementTerms support no resource-level "
                    "permissions (agreements have no ARN to grant on); they are the only actions granted on *, "
                    "GetAgreementTerms only for purchase agreements the seller proposed."
                ),
            },
        )
        acknowledge(
            self.signing_secret,
            {
                "AwsSolutions-SMG4": (
                    "An HMAC key for values living at most COMPLETION_TTL_SECONDS; no credentials elsewhere depend "
                    "on it, so it is rotated by putting a new value (forms open at that moment must be restarted)."
                ),
            },
        )
        CfnOutput(
            self,
            "FulfillmentUrl",
            value=rest_api.url_for_path("/register"),
            description="Give this to AWS Marketplace as the product's fulfillment URL",
        )
