"""--state-file: a restarted emulator keeps the world (products, subscriptions, ledger, tokens, clock)."""

from __future__ import annotations

import json
from datetime import timedelta

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
