"""Registration with its real collaborators: Marketplace, the customers table, the seller events, the signing secret,
and Powertools idempotency keyed on the token."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from functions.clock import app_clock
from functions.customers.repository import DynamoCustomerRepository
from functions.eventbridge import EventBridgePublisher
from functions.marketplace.agreements import MarketplaceAgreementTerms
from functions.marketplace.customers import MarketplaceResolver
from functions.registration.seller_signup import SellerSignups
from functions.registration.service import RegistrationInProgress, Registrations
from functions.seller_events import EventPublisher, RecordingPublisher
from functions.settings import Settings
from functions.storage.errors import StorageError
from functions.wiring.aws_clients import (
    AGREEMENT_CONFIG,
    RESOLVE_CONFIG,
    agreement_client,
    dynamodb_client,
    events_client,
    resolve_client,
)
from functions.wiring.registration_timers import free_trial_checks, seller_event_retries

# A token lives 1 to 4 hours; a refresh within a day still gets the first answer instead of "expired".
REPLAY_WINDOW_SECONDS = 24 * 3600
SECRET_CACHE_SECONDS = 300
# what storing the registration and answering need after Marketplace's calls, out of the function's 29 s
ANSWER_MARGIN_SECONDS = 5.0
# GetAgreementTerms at most: two tries of connect + read (AGREEMENT_CONFIG) and botocore's backoff
AGREEMENT_TERMS_SECONDS = 2 * (AGREEMENT_CONFIG.connect_timeout + AGREEMENT_CONFIG.read_timeout) + 1
# the idempotency key prefix of ResolveCustomer's answer, kept apart from the whole registration's
RESOLVE_STEP = "registration.resolve-customer"


class RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...  # Lambda's context has it


class InvocationDeadline:
    """How long the current invocation may still work before answering: the Lambda context's remaining time less
    what rendering and sending our page needs (without a context, as in tests: unlimited)."""

    def __init__(self) -> None:
        self._context: RemainingTime | None = None

    def start(self, context: RemainingTime) -> None:
        self._context = context

    def seconds_left(self) -> float:
        if self._context is None:
            return math.inf
        return self._context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS


@dataclass(frozen=True)
class RegistrationWiring:
    """What the registration handler uses, built once per environment."""

    registrations: Registrations
    signups: SellerSignups  # the seller's back end: the sign-up exchange and the tenant link
    # the handler registers each invocation's context, so an interrupted run frees the token at its deadline
    idempotency: IdempotencyConfig
    # and starts each invocation's deadline: ResolveCustomer's retries and GetAgreementTerms stop in time for our page
    deadline: InvocationDeadline


@cache
def build(settings: Settings) -> RegistrationWiring:
    dynamodb = dynamodb_client(settings)
    idempotency = IdempotencyConfig(
        event_key_jmespath="token",  # the key is the SHA-256 of the token; the token itself is never stored
        hash_function="sha256",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=REPLAY_WINDOW_SECONDS,
    )
    store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
    publisher: EventPublisher = (
        EventBridgePublisher(events_client(settings), settings.event_bus_name)
        if settings.event_bus_name
        else RecordingPublisher()  # no bus locally: events go to the log
    )
    clock = app_clock(settings.clock_file)
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table, settings.contacts_table)
    secret = _secret_reader(settings)
    deadline = InvocationDeadline()
    registrations = Registrations(
        resolver=MarketplaceResolver(
            resolve_client(settings),
            seconds_left=deadline.seconds_left,
            attempt_seconds=RESOLVE_CONFIG.connect_timeout + RESOLVE_CONFIG.read_timeout,
        ),
        agreement_terms=MarketplaceAgreementTerms(agreement_client(settings)),
        customers=customers,
        publisher=publisher,
        clock=clock,
        signing_secret=secret,
        products=settings.products,
        completion_ttl_seconds=settings.completion_ttl_seconds,
        contact_fields=settings.contact_fields,
        run_once=_powertools_once(store, idempotency),
        # a persistence layer of its own: Powertools keeps the function name on the layer, and the steps nest
        resolve_once=_powertools_once(
            DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
            idempotency,
            key_prefix=RESOLVE_STEP,
        ),
        free_trial_checks=free_trial_checks(settings, dynamodb, publisher, clock),
        event_retries=seller_event_retries(settings, publisher),
        seconds_left=deadline.seconds_left,
        agreement_terms_seconds=AGREEMENT_TERMS_SECONDS,
    )
    signups = SellerSignups(customers=customers, clock=clock, signing_secret=secret)
    return RegistrationWiring(registrations=registrations, signups=signups, idempotency=idempotency, deadline=deadline)


def _secret_reader(settings: Settings) -> Callable[[], str]:
    def read() -> str:
        if settings.signing_secret:
            return settings.signing_secret
        if settings.signing_secret_arn:
            # cached by Powertools for a few minutes: a rotated secret is picked up without a cold start
            return str(parameters.get_secret(settings.signing_secret_arn, max_age=SECRET_CACHE_SECONDS))
        raise RuntimeError("neither SIGNING_SECRET nor SIGNING_SECRET_ARN is set")

    return read


def _powertools_once(store: DynamoDBPersistenceLayer, config: IdempotencyConfig, key_prefix: str | None = None) -> Any:
    def run_once(function: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
        def resolve_and_store(request: dict[str, Any]) -> dict[str, Any]:
            return function(request)

        once = idempotent_function(
            resolve_and_store,
            data_keyword_argument="request",
            persistence_store=store,
            config=config,
            key_prefix=key_prefix,
        )
        try:
            result: dict[str, Any] = once(request=request)
        except IdempotencyAlreadyInProgressError:
            raise RegistrationInProgress("this registration is already being processed") from None
        except IdempotencyPersistenceLayerError as error:
            raise StorageError(f"idempotency store: {error}", code="Idempotency", retryable=True) from None
        return result

    return run_once
