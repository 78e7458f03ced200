"""The emulator (and the local stack's controls) answer requests addressed to loopback only: a page that rebinds its
own name to 127.0.0.1 sends that name as Host."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from local.marketplace.hosts import loopback_host


@pytest.mark.parametrize(
    ("host", "bound", "answered"),
    [
        ("127.0.0.1:3001", "127.0.0.1", True),
        ("127.1.2.3", "127.0.0.1", True),
        ("localhost:3001", "127.0.0.1", True),
        ("LOCALHOST", "", True),
        ("[::1]:3001", "::1", True),
        ("::1", "", True),  # unbracketed, yet loopback: no page can send it
        ("evil.example:3001", "127.0.0.1", False),
        ("localhost.evil.example", "127.0.0.1", False),
        ("127.0.0.1.evil.example:3001", "127.0.0.1", False),
        ("", "127.0.0.1", False),
        (None, "127.0.0.1", False),
        # bound to one address: that address too; bound to all of them: loopback names only
        ("192.0.2.10:8090", "192.0.2.10", True),
        ("192.0.2.10:8090", "0.0.0.0", False),  # noqa: S104 (a binding named, not made)
    ],
)
def test_a_host_is_answered_only_if_it_names_loopback_or_the_bound_address(
    host: str | None, bound: str, answered: bool
) -> None:
    assert loopback_host(host, bound) is answered


def test_the_emulator_refuses_a_forged_host_on_every_route(marketplace) -> None:
    for path in ("/admin/health", "/", "/admin/subscriptions"):
        request = urllib.request.Request(f"{marketplace.url}{path}", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        assert b"loopback" in refused.value.read()
    with urllib.request.urlopen(f"{marketplace.url}/admin/health", timeout=10) as answered:
        assert answered.status == 200
