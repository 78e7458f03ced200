"""Emulator configuration: defaults mirror AWS as of November 2026; PUT /admin/config merges into it."""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_CONFIG: dict[str, Any] = {
    # BatchMeterUsage accepts records up to 24 h old; MeterUsage only 6 h (service model text).
    "window_hours": 24,
    "meter_usage_window_hours": 6,
    # Previous month's records are accepted until this hour (UTC) on the 1st.
    "month_end_cutoff_hour": 6,
    # How far in the future a timestamp may be before it is out of bounds (clock skew allowance).
    "future_tolerance_seconds": 300,
    # BatchMeterUsage quota per seller (SigV4 access key id), requests per second and burst.
    "quota_per_second": 10,
    "quota_burst": 10,
    # Other operations: {"Operation": {"per_second": r, "burst": b}}; absent means unlimited.
    "operation_quotas": {
        "MeterUsage": {"per_second": 10, "burst": 10},
        "RegisterUsage": {"per_second": 5, "burst": 5},
    },
    # Registration tokens. AWS's sources disagree on reuse: the API reference lists a resubmitted token among the
    # causes of ExpiredTokenException (token_single_use=True); AWS's 2026 metering guidance says a token resolves
    # again, with the same answer, until it expires after about 4 hours (the default). README.md cites both.
    "token_ttl_seconds": 14400,
    "token_single_use": False,
    "unsubscribe_grace_seconds": 3600,
    # Where the emulated caller runs; MeterUsage/RegisterUsage signed for another region fail.
    "region": "us-east-1",
    # Regions where the API answers DisabledApiException.
    "disabled_regions": [],
    "seller_account_id": "123456789012",
    # The seller's display name: EventBridge ``proposer.name`` where AWS's examples carry one.
    "seller_account_name": "Emulated Seller",
    # MeterUsage/RegisterUsage are signed by the buyer: map access key ids to buyer accounts. A 12-digit
    # access key id is taken as the account itself, which keeps tests short.
    "access_key_accounts": {},
    "default_caller_account_id": None,
    # RegisterUsage only works on these platforms; "caller_platform" is where the emulated task runs.
    "caller_platform": "ecs",
    "supported_platforms": ["ecs", "eks", "fargate"],
    "public_key_versions": [1],
    # GetEntitlements: every Nth page of a listing is served empty but with a NextToken (0 = never),
    # because AWS documents that this happens and clients must keep paging.
    "entitlement_empty_page_every": 3,
    # GetAgreementTerms: at most this many terms per page whatever maxResults asks (0 = up to maxResults, default
    # 50), so a client's paging is exercised without it asking for small pages.
    "agreement_terms_page_size": 0,
    # License events' ``license.arn``: "documented" is the seller guide's example form
    # (``aws:license-manager:us-east-1:<seller account>:l-<id>``, no "arn:" prefix); "arn" is the LicenseArn that
    # ResolveCustomer returns. Only the ``l-<id>`` is the same in both.
    "eventbridge_license_arn_format": "documented",
    # Which event opens the buyer's last hour of usage (sources disagree, README.md "Notifications"):
    # "ended_first" (seller guide, Pricing for SaaS subscriptions): unsubscribe sends Purchase Agreement Ended and
    # finalize sends License Deprovisioned; "deprovisioned_first" (seller guide, EventBridge integration page, and
    # AWS's 2026 metering guidance): unsubscribe sends License Deprovisioned then Ended, finalize sends no event.
    "end_order": "ended_first",
    # Subscriptions made on the buyer page are confirmed at once unless this is False.
    "buyer_page_auto_confirm": True,
    "max_calls_kept": 100000,
    # CloudTrail delivers an API call's event "within about 15 minutes"; LookupEvents shows it this long after it.
    "cloudtrail_delivery_delay_seconds": 0,
}


# Text switches and the values each accepts.
CHOICES: dict[str, tuple[str, ...]] = {
    "eventbridge_license_arn_format": ("documented", "arn"),
    "end_order": ("ended_first", "deprovisioned_first"),
}


def default_config() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_CONFIG)


def merge_config(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Return a new config with ``update`` merged in; unknown keys and wrong types are refused."""
    merged = copy.deepcopy(current)
    for key, value in update.items():
        if key not in DEFAULT_CONFIG:
            raise ValueError(f"unknown config key {key!r}")
        default = DEFAULT_CONFIG[key]
        if default is not None and value is not None:
            numeric = isinstance(default, int | float) and not isinstance(default, bool)
            if numeric:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{key} must be a number")
                if value < 0:
                    raise ValueError(f"{key} must be >= 0")
            elif not isinstance(value, type(default)):
                raise ValueError(f"{key} must be of type {type(default).__name__}")
            if key in CHOICES and value not in CHOICES[key]:
                raise ValueError(f"{key} must be one of {', '.join(CHOICES[key])}")
        merged[key] = copy.deepcopy(value)
    return merged
