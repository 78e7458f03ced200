"""--state-file: a restarted emulator keeps the world (products, subscriptions, ledger, tokens, clock)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from ..admin_client import AdminClient
from ..testing import aws_client, start_emulator, usage_record
from .helpers import NOW, iso


def test_state_survives_restart(tmp_path):
    state = tmp_path / "marketplace.json"
    server = start_emulator(state_file=str(state))
    try:
        admin = AdminClient(server.url)
        admin.set_clock(iso(NOW))
        admin.put_config(token_single_use=True)  # so that "used" is state the restart must keep
        admin.create_product("p1", ["api_calls"])
        sub = admin.subscribe("p1", "111122223333", start_time=iso(NOW - timedelta(days=1)))
        client = aws_client("meteringmarketplace", server.url)
        client.resolve_customer(RegistrationToken=sub["registration_token"])
        first = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 3, NOW)])["Results"][0]
    finally:
        server.stop()
    assert json.loads(state.read_text())["products"]["p1"]["dimensions"] == ["api_calls"]

    server = start_emulator(state_file=str(state))
    try:
        admin = AdminClient(server.url)
        assert [p["code"] for p in admin.list_products()] == ["p1"]
        assert admin.get_subscription(sub["agreement_id"])["status"] == "active"
        assert len(admin.ledger()) == 1
        assert admin.get_clock()["now"].startswith("2026-11-18T10:")
        client = aws_client("meteringmarketplace", server.url, max_attempts=1)
        again = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 3, NOW)])["Results"][0]
        assert again["MeteringRecordId"] == first["MeteringRecordId"]
        try:
            client.resolve_customer(RegistrationToken=sub["registration_token"])
            raise AssertionError("a used token must stay used across restarts")
        except client.exceptions.ExpiredTokenException:
            pass
    finally:
        server.stop()


def test_writes_are_atomic(tmp_path):
    state = tmp_path / "state.json"
    server = start_emulator(state_file=str(state))
    try:
        admin = AdminClient(server.url)
        for i in range(20):
            admin.create_product(f"p{i}", ["d"])
    finally:
        server.stop()
    # No temp files left behind, and the file is complete JSON.
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert len(json.loads(state.read_text())["products"]) == 20


def test_a_renewed_licence_is_metered_as_before_after_a_restart(tmp_path):
    # Review 25: subscriptions are looked up by licence through an index rebuilt on load; a renewal made before the
    # restart and one made after it keep the licence, its start (the first agreement's) and its billed hours.
    state = tmp_path / "marketplace.json"
    server = start_emulator(state_file=str(state))
    try:
        admin = AdminClient(server.url)
        admin.set_clock(iso(NOW))
        admin.create_product("p1", ["api_calls"])
        other = admin.subscribe("p1", "444455556666", start_time=iso(NOW - timedelta(hours=20)))
        sub = admin.subscribe("p1", "111122223333", start_time=iso(NOW - timedelta(hours=3)))
        renewal = admin.renew(sub["agreement_id"])
        client = aws_client("meteringmarketplace", server.url, max_attempts=1)
        first = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 3, NOW)])["Results"][0]
    finally:
        server.stop()

    server = start_emulator(state_file=str(state))
    try:
        admin = AdminClient(server.url)
        client = aws_client("meteringmarketplace", server.url, max_attempts=1)

        def meter(subscription, quantity, at):
            return client.batch_meter_usage(UsageRecords=[usage_record(subscription, "api_calls", quantity, at)])

        # the hour billed before the restart: the same record, the same id; another quantity: DuplicateRecord
        again = meter(sub, 3, NOW)["Results"][0]
        assert (again["Status"], again["MeteringRecordId"]) == ("Success", first["MeteringRecordId"])
        changed = meter(sub, 4, NOW)["Results"][0]
        assert (changed["Status"], changed["MeteringRecordId"]) == ("DuplicateRecord", first["MeteringRecordId"])
        # an hour of the first agreement, before the renewal started: billed; before the licence started: refused
        assert meter(sub, 2, NOW - timedelta(hours=2))["Results"][0]["Status"] == "Success"
        try:
            meter(sub, 2, NOW - timedelta(hours=5))
            raise AssertionError("usage before the licence started must be refused")
        except client.exceptions.InvalidLicenseException:
            pass
        # another buyer's licence, subscribed earlier, is still theirs (not the renewed buyer's)
        assert meter(other, 1, NOW - timedelta(hours=5))["Results"][0]["Status"] == "Success"
        # renewed again after the restart: the licence is still meterable, the billed hour still the same record
        third = admin.renew(renewal["agreement_id"])
        late = meter(sub, 3, NOW)["Results"][0]
        assert (late["Status"], late["MeteringRecordId"]) == ("Success", first["MeteringRecordId"])
        assert meter(sub, 5, NOW - timedelta(hours=1))["Results"][0]["Status"] == "Success"
        assert [(r["agreement_id"], r["quantity"]) for r in admin.ledger()] == [
            (renewal["agreement_id"], "3"),
            (renewal["agreement_id"], "2"),
            (other["agreement_id"], "1"),
            (third["agreement_id"], "5"),
        ]
    finally:
        server.stop()


@contextmanager
def _emulator(state: Path) -> Iterator[tuple[AdminClient, str]]:
    """An emulator keeping its world in ``state``: its admin client and URL, stopped after."""
    server = start_emulator(state_file=str(state))
    try:
        yield AdminClient(server.url), server.url
    finally:
        server.stop()


def test_an_agreement_unsubscribed_before_a_restart_is_finalized_when_its_grace_runs_out_after_it(tmp_path):
    # The agreements still to finalize are an index rebuilt on load (not a scan of every subscription on every call).
    state = tmp_path / "marketplace.json"
    with _emulator(state) as (admin, url):
        admin.set_clock(iso(NOW))
        admin.put_config(unsubscribe_grace_seconds=600)
        admin.create_product("p1", ["api_calls"])
        staying = admin.subscribe("p1", "444455556666", start_time=iso(NOW - timedelta(hours=2)))
        leaving = admin.subscribe("p1", "111122223333", start_time=iso(NOW - timedelta(hours=2)))
        admin.unsubscribe(leaving["agreement_id"])

    with _emulator(state) as (admin, url):
        client = aws_client("meteringmarketplace", url, max_attempts=1)
        admin.advance_clock(599)
        assert admin.get_subscription(leaving["agreement_id"])["status"] == "unsubscribe_pending"
        admin.advance_clock(2)
        now = NOW + timedelta(seconds=601)
        results = client.batch_meter_usage(
            UsageRecords=[usage_record(leaving, "api_calls", 4, now), usage_record(staying, "api_calls", 3, now)]
        )["Results"]
        assert [r["Status"] for r in results] == ["CustomerNotSubscribed", "Success"]
        assert admin.get_subscription(leaving["agreement_id"])["status"] == "ended"
        assert admin.get_subscription(staying["agreement_id"])["status"] == "active"
        assert [(r["agreement_id"], r["quantity"]) for r in admin.ledger()] == [(staying["agreement_id"], "3")]


def test_cloudtrail_events_read_the_same_after_a_restart_and_from_an_earlier_emulators_file(tmp_path):
    # The event text is written when looked up, not when the call is made: a restart must not change it, and a state
    # file of an earlier emulator (which kept the text itself) must still be read.
    state = tmp_path / "marketplace.json"
    with _emulator(state) as (admin, url):
        admin.set_clock(iso(NOW))
        admin.create_product("p1", ["api_calls"])
        sub = admin.subscribe("p1", "111122223333", start_time=iso(NOW - timedelta(days=1)))
        client = aws_client("meteringmarketplace", url, max_attempts=1)
        client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 3, NOW)])
        before = aws_client("cloudtrail", url).lookup_events()["Events"]
    assert len(before) == 1
    assert json.loads(before[0]["CloudTrailEvent"])["requestParameters"]["usageRecords"][0]["quantity"] == 3

    with _emulator(state) as (admin, url):
        assert aws_client("cloudtrail", url).lookup_events()["Events"] == before

    earlier = json.loads(state.read_text())
    earlier["trail"][0]["CloudTrailEvent"] = before[0]["CloudTrailEvent"]  # as an earlier emulator kept it
    state.write_text(json.dumps(earlier))
    with _emulator(state) as (admin, url):
        assert aws_client("cloudtrail", url).lookup_events()["Events"] == before
