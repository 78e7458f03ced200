"""Renewal: a new agreement takes over the same licence; the buyer stays meterable throughout."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ..admin_client import AdminAPIError
from ..testing import usage_record
from .helpers import NOW, iso

PARTNER = "999988887777"


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    return marketplace


def _renewed(env, **fields):
    sub = env.subscribe_buyer(start_time=iso(NOW - timedelta(days=2)), **fields)
    after = env.admin.notifications()[-1]["seq"]
    renewal = env.admin.renew(sub["agreement_id"])
    return sub, renewal, env.admin.notifications(after=after)


def test_renewal_is_a_new_agreement_for_the_same_licence_and_customer(env):
    sub, renewal, _ = _renewed(env)
    assert renewal["agreement_id"] != sub["agreement_id"]
    for same in ("license_arn", "customer_identifier", "account_id", "product_code", "offer_id"):
        assert renewal[same] == sub[same], same
    assert (renewal["status"], renewal["previous_agreement_id"]) == ("active", sub["agreement_id"])
    old = env.admin.get_subscription(sub["agreement_id"])
    assert (old["status"], old["replaced_by"]) == ("replaced", renewal["agreement_id"])
    assert [s["agreement_id"] for s in env.admin.list_subscriptions(status="active")] == [renewal["agreement_id"]]


def test_renewal_sends_created_renew_licence_updated_and_ended(env):
    sub, renewal, sent = _renewed(env)
    events = [n for n in sent if n["channel"] == "eventbridge"]
    assert [(n["topic"], n["agreement_id"]) for n in events] == [
        ("Purchase Agreement Created - Proposer", renewal["agreement_id"]),
        ("License Updated - Manufacturer", renewal["agreement_id"]),
        ("Purchase Agreement Ended - Proposer", sub["agreement_id"]),
    ]
    created, licence, ended = (n["body"]["detail"] for n in events)
    assert created["agreement"]["intent"] == "RENEW"
    assert created["agreement"]["previousAgreementId"] == sub["agreement_id"]
    assert licence["agreement"] == {"id": renewal["agreement_id"]}
    assert licence["license"]["arn"].endswith(sub["license_arn"].rsplit(":", 1)[-1])
    assert ended["agreement"] == {"id": sub["agreement_id"], "status": "RENEWED"}
    (sns,) = (n for n in sent if n["channel"] == "sns")
    assert json.loads(sns["body"]["Message"])["action"] == "entitlement-updated"


def test_a_channel_partner_renewal_is_sent_as_manufacturer_events(env):
    _, _, sent = _renewed(env, proposer_account_id=PARTNER)
    assert [n["topic"] for n in sent if n["channel"] == "eventbridge"] == [
        "Purchase Agreement Created - Manufacturer",
        "License Updated - Manufacturer",
        "Purchase Agreement Ended - Manufacturer",
    ]
    created = sent[0]["body"]["detail"]
    assert (created["agreement"]["intent"], created["proposer"]) == ("RENEW", {"accountId": PARTNER})


def test_the_buyer_stays_meterable_and_an_hour_is_billed_once(env):
    sub = env.subscribe_buyer(start_time=iso(NOW - timedelta(days=2)))
    client = env.metering(max_attempts=1)
    before = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 4, NOW)])["Results"][0]
    renewal = env.admin.renew(sub["agreement_id"])
    # The same licence and hour again: the hour was billed under the licence, so it is the same record.
    again = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 4, NOW)])["Results"][0]
    assert (again["Status"], again["MeteringRecordId"]) == ("Success", before["MeteringRecordId"])
    # An hour from before the renewal started is still inside the licence's life.
    earlier = usage_record(sub, "storage_gb", 2, NOW - timedelta(hours=5))
    assert client.batch_meter_usage(UsageRecords=[earlier])["Results"][0]["Status"] == "Success"
    assert [r["agreement_id"] for r in env.admin.ledger()] == [sub["agreement_id"], renewal["agreement_id"]]


def test_entitlements_by_licence_come_from_the_live_agreement_only(env):
    env.product("contract-product", ["seats"], pricing="contract")
    sub = env.admin.subscribe("contract-product", "111122223333", entitlements=[{"dimension": "seats", "value": 5}])
    renewal = env.admin.renew(sub["agreement_id"])
    found = env.entitlement().get_entitlements(
        ProductCode="contract-product", Filter={"LICENSE_ARN": [sub["license_arn"]]}
    )["Entitlements"]
    assert [(e["Dimension"], e["Value"]["IntegerValue"]) for e in found] == [("seats", 5)]
    assert renewal["entitlements"][0]["value"] == {"IntegerValue": 5}


def test_only_an_active_agreement_can_be_renewed(env):
    sub, _, _ = _renewed(env)
    for action in (env.admin.renew, env.admin.unsubscribe):
        with pytest.raises(AdminAPIError) as refused:
            action(sub["agreement_id"])
        assert refused.value.status == 409
