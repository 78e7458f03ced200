"""The seller's other agreement events on in-memory fakes, with AWS's published examples (tests/fixtures/aws): an
approved cancellation ends the buyer through the final-usage path, the other requests and reminders are kept and
change nothing, an advisory reaches the seller's systems and its alarm's metric, a failed refund its alarm's, an
event type AWS adds later is counted, and an agreement event before registration asks for its licence."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from functions.customers.model import Customer, SubscriptionState
from functions.customers.notices import NoticeKind
from functions.lifecycle.agreement_entitlements import AgreementEntitlement
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import CUSTOMER_ACTIVATED, CUSTOMER_ADVISORY_ISSUED, CUSTOMER_ENDED
from functions.observability import metrics
from tests.aws_corpus import eventbridge_example
from tests.unit.test_lifecycle_rules import ACCOUNT, T0, Buyer, World, subscribed


def count(name: str) -> float:
    return float(sum(metrics.metric_set.get(name, {}).get("Value", [])))


def send_as(world: World, buyer: Buyer, example: str, detail_type: str) -> None:
    event = eventbridge_example(example, buyer.parties, at=world.clock.now())
    event["detail-type"] = detail_type
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=world.clock.now()))


def notices(world: World, buyer: Buyer) -> dict[str, str]:
    """The agreement's notices kept: key -> status."""
    store = world.customers.lifecycle_store
    return {key: n.status for (agreement, key), n in store.notices.items() if agreement == buyer.parties.agreement_id}


def test_an_approved_cancellation_ends_the_buyer_through_their_final_usage() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.clock.set(T0 + timedelta(minutes=10))
    world.send(buyer, "cancellation_pending_approval_proposer.json")
    assert world.state(buyer) is SubscriptionState.ACTIVE  # a request is no end: the buyer has 7 days to answer
    world.send(buyer, "cancellation_approved_proposer.json")
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert customer.final_usage_cutoff == T0 + timedelta(minutes=55)
    world.pass_time(50)
    assert world.sent == [buyer.ref.key]  # their final usage, once
    world.pass_time(15)
    assert world.state(buyer) is SubscriptionState.ENDED
    assert world.announced() == [CUSTOMER_ACTIVATED, CUSTOMER_ENDED]
    assert notices(world, buyer) == {"cancellation_request#acr-abcdexampleid": "APPROVED"}
    assert count("CancellationRequestsApproved") == 1


@pytest.mark.parametrize(
    "example",
    [
        "cancellation_pending_approval_proposer.json",
        "cancellation_rejected_proposer.json",
        "cancellation_cancelled_proposer.json",
        "cancellation_validation_failed_proposer.json",
        "renewal_terms_finalized_proposer.json",
        "renewal_upcoming_proposer.json",
        "ending_proposer.json",
        "billing_adjustment_completed_proposer.json",
        "advisory_resolved_manufacturer.json",
    ],
)
def test_the_other_notices_are_kept_and_change_nothing(example: str) -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.send(buyer, example)
    assert world.state(buyer) is SubscriptionState.ACTIVE
    assert (world.sent, world.timers.scheduled) == ([], [])
    assert len(notices(world, buyer)) == 1
    assert count("AgreementAdvisoriesIssued") == count("BillingAdjustmentsFailed") == 0


def test_a_cancellation_requests_late_pending_event_never_hides_its_outcome() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.clock.set(T0 + timedelta(minutes=5))
    world.send(buyer, "cancellation_rejected_proposer.json")
    world.clock.set(T0 + timedelta(minutes=1))  # delivered late: sent before the rejection
    world.send(buyer, "cancellation_pending_approval_proposer.json")
    assert notices(world, buyer) == {"cancellation_request#acr-abcdexampleid": "REJECTED"}
    world.clock.set(T0 + timedelta(minutes=6))
    world.send(buyer, "cancellation_pending_approval_proposer.json", cancellation_request_id="acr-second")
    assert notices(world, buyer) == {
        "cancellation_request#acr-abcdexampleid": "REJECTED",
        "cancellation_request#acr-second": "PENDING_APPROVAL",
    }


def test_an_advisory_reaches_the_sellers_systems_and_its_alarm_and_its_resolution_follows() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.send(buyer, "advisory_issued_manufacturer.json")
    (advisory,) = [e for e in world.publisher.events if e.detail_type == CUSTOMER_ADVISORY_ISSUED]
    assert advisory.detail["agreement_id"] == buyer.parties.agreement_id
    assert advisory.detail["customer_aws_account_id"] == ACCOUNT
    assert [c["license_arn"] for c in advisory.detail["customers"]] == [buyer.ref.license_arn]
    assert count("AgreementAdvisoriesIssued") == 1
    assert world.state(buyer) is SubscriptionState.ACTIVE  # AWS suspects; the seller decides
    world.clock.set(T0 + timedelta(days=30))
    world.send(buyer, "advisory_resolved_manufacturer.json")
    assert notices(world, buyer) == {"advisory": "RESOLVED"}
    assert count("AgreementAdvisoriesIssued") == 1


def test_an_advisory_for_a_buyer_not_registered_yet_is_still_published_and_alarmed() -> None:
    world, buyer = World(), Buyer()
    world.send(buyer, "advisory_issued_manufacturer.json")
    (advisory,) = world.publisher.events
    assert (advisory.detail_type, advisory.detail["customers"]) == (CUSTOMER_ADVISORY_ISSUED, [])
    assert count("AgreementAdvisoriesIssued") == 1


def test_a_failed_refund_is_kept_and_counted_for_its_alarm() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    world.send(buyer, "billing_adjustment_failed_proposer.json", billing_adjustment_id="ba-1")
    world.send(buyer, "billing_adjustment_completed_proposer.json", billing_adjustment_id="ba-2")
    assert notices(world, buyer) == {"billing_adjustment#ba-1": "FAILED", "billing_adjustment#ba-2": "COMPLETED"}
    assert (count("BillingAdjustmentsFailed"), count("BillingAdjustmentsCompleted")) == (1, 1)


def test_an_event_type_aws_adds_later_is_counted_and_the_sellers_own_purchases_are_not() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    send_as(world, buyer, "ended_proposer.json", "Purchase Agreement Something New - Proposer")
    assert count("UnknownMarketplaceEvents") == 1
    send_as(world, buyer, "ended_proposer.json", "Purchase Agreement Ended - Acceptor")
    assert count("UnknownMarketplaceEvents") == 1
    assert count("LifecycleNotificationsIgnored") == 2
    assert world.state(buyer) is SubscriptionState.ACTIVE  # neither ended anyone


def test_an_agreement_event_before_registration_links_the_licence_getagreemententitlements_names() -> None:
    world, buyer = World(), Buyer()
    world.agreement_entitlements.known[buyer.parties.agreement_id] = [
        AgreementEntitlement(buyer.ref.license_arn, "PROVISIONED", None, "prod-1"),
    ]
    world.send(buyer, "created_proposer_new.json")
    assert world.agreement_entitlements.asked == [buyer.parties.agreement_id]
    # the buyer registers with their licence alone (no agreement named): the agreement's activation is theirs
    world.customers.put(Customer(buyer.ref, ACCOUNT, SubscriptionState.PENDING, T0))
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert buyer.parties.agreement_id in world.customers.lifecycle(customer).agreements
    assert world.customers.lifecycle(customer).times.state is SubscriptionState.ACTIVE
    assert notices(world, buyer) == {f"entitlement#{buyer.licence}": "PROVISIONED"}


def test_an_unavailable_getagreemententitlements_costs_nothing_but_a_count() -> None:
    world, buyer = World(), Buyer()
    world.agreement_entitlements.failing = True
    world.send(buyer, "created_proposer_new.json")
    assert count("AgreementEntitlementsUnavailable") == 1
    subscribed(world, buyer)  # the licence's own event links it, as before the lookup existed
    assert world.state(buyer) is SubscriptionState.ACTIVE


def test_a_registered_buyers_agreement_needs_no_lookup() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)
    assert world.agreement_entitlements.asked == []
    assert NoticeKind.ENTITLEMENT.value not in notices(world, buyer)
