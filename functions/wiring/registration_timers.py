"""The timers registration leaves on the lifecycle queue, with their real collaborators: a free-trial claim to ask
Marketplace about again, a seller event to publish again. Registration leaves them; the lifecycle function runs them,
and imports this module alone rather than the whole registration (its service, forms, sign-up, secret reading)."""

from __future__ import annotations

from typing import Any

from functions.clock import Clock
from functions.customers.repository import DynamoCustomerRepository
from functions.marketplace.agreements import MarketplaceAgreementTerms
from functions.registration.event_retries import SellerEventRetries
from functions.registration.free_trial import FreeTrialChecks
from functions.seller_events import EventPublisher
from functions.settings import Settings
from functions.sqs_timer import SqsTimer
from functions.wiring.aws_clients import agreement_client, sqs_client


def free_trial_checks(settings: Settings, dynamodb: Any, publisher: EventPublisher, clock: Clock) -> FreeTrialChecks:
    """Asking Marketplace again about a free-trial claim it could not confirm at registration: registration leaves
    the timer on the lifecycle queue, the lifecycle function runs the check."""
    queue = settings.lifecycle_queue_url
    return FreeTrialChecks(
        agreement_terms=MarketplaceAgreementTerms(agreement_client(settings)),
        customers=DynamoCustomerRepository(dynamodb, settings.customers_table),
        publisher=publisher,
        clock=clock,
        timer=SqsTimer(sqs_client(settings), queue) if queue else None,
    )


def seller_event_retries(settings: Settings, publisher: EventPublisher) -> SellerEventRetries:
    """Publishing again a seller event registration could not publish: registration leaves it on the lifecycle queue,
    the lifecycle function publishes it."""
    queue = settings.lifecycle_queue_url
    return SellerEventRetries(publisher=publisher, timer=SqsTimer(sqs_client(settings), queue) if queue else None)
