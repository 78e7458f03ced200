"""The seller's world: products, buyers, subscriptions, tokens, the ledger, the call log, notifications.

Plain dataclasses holding JSON-friendly values (timestamps as ISO strings) so the whole world can be
written to and read back from a state file without a custom encoder. Callers hold the world lock (``service``).
"""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .config import default_config

STATE_VERSION = 1
# The account AWS Marketplace issues licences from; licence ARNs live in that account, not the buyer's.
LICENSE_ISSUER_ACCOUNT = "294406891311"
SNS_ACCOUNT = "287250355862"

CUSTOMER_MODES = ("license", "legacy")
# what ResolveCustomer answers for a product: today's fields, or (a legacy product only) those of the answer before AWS
# added LicenseArn and Metadata: CustomerIdentifier, CustomerAWSAccountId and ProductCode (README "ResolveCustomer")
RESOLVE_CUSTOMER_SHAPES = ("current", "identifier-only")
PRICING_MODELS = ("usage", "contract")
# pending: created, not yet confirmed; active; unsubscribe_pending: cancelled, final usage still accepted;
# ended: finalized, no more usage; failed: subscribe-fail; replaced: a renewal's new agreement took over its licence.
SUBSCRIPTION_STATUSES = ("pending", "active", "unsubscribe_pending", "ended", "failed", "replaced")
METERABLE_STATUSES = ("active", "unsubscribe_pending")
UNSUBSCRIBING = "unsubscribe_pending"
LIVE_STATUSES = ("pending", *METERABLE_STATUSES)

_LOWER_ALNUM = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits


def random_text(length: int, alphabet: str = _LOWER_ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_agreement_id() -> str:
    return "agmt-" + random_text(25)


def new_license_arn() -> str:
    return f"arn:aws:license-manager::{LICENSE_ISSUER_ACCOUNT}:license:l-{secrets.token_hex(16)}"


def new_customer_identifier() -> str:
    return random_text(11, _ALNUM)


def new_offer_id() -> str:
    return "offer-" + random_text(13)


def new_product_id() -> str:
    return "prod-" + random_text(13)


def new_registration_token() -> str:
    # Real tokens are long opaque strings with characters that need URL-encoding in a form post;
    # keeping "+", "/" and "=" here makes sure fulfillment handlers decode the form properly.
    return secrets.token_urlsafe(96).replace("-", "+").replace("_", "/") + "="


@dataclass
class Product:
    code: str
    id: str
    name: str
    dimensions: list[str]
    customer_mode: str = "license"
    fulfillment_url: str = "http://127.0.0.1:3000/register"
    pricing: str = "usage"
    resolve_customer_shape: str = "current"


@dataclass
class Buyer:
    account_id: str
    name: str = ""


@dataclass
class Subscription:
    agreement_id: str
    product_code: str
    account_id: str
    license_arn: str
    customer_identifier: str
    offer_id: str
    status: str
    free_trial: bool
    created_at: str
    confirmed_at: str | None = None
    unsubscribed_at: str | None = None
    ended_at: str | None = None
    entitlements: list[dict[str, Any]] = field(default_factory=list)
    # Who proposed the offer: None is the seller itself (a direct offer); another account is a channel partner.
    proposer_account_id: str | None = None
    # Set when the agreement was sold through a resale authorization ("resaleauthz-...").
    resale_authorization_id: str | None = None
    # A renewal's agreement names the one it renewed; the renewed one names its successor.
    previous_agreement_id: str | None = None
    replaced_by: str | None = None


def pick_current(subs: list[Subscription]) -> Subscription | None:
    """The record that speaks for a buyer or a licence now: the newest meterable one, else the newest of any.

    Several records can share a licence (a renewal keeps it and leaves the renewed agreement behind) or a legacy
    customer identifier (a re-subscription keeps it), so a lookup must not stop at the first match.
    """
    live = [s for s in subs if s.status in METERABLE_STATUSES]
    if live:
        return live[-1]
    return subs[-1] if subs else None


@dataclass
class Token:
    token: str
    agreement_id: str
    issued_at: str
    expires_at: str
    used_at: str | None = None


def quantity_key(value: Decimal) -> str:
    """Canonical text of a quantity so 17, 17.0 and "17.00" compare (and persist) as the same value."""
    return format(value.normalize(), "f")


@dataclass
class World:
    config: dict[str, Any] = field(default_factory=default_config)
    clock_offset_seconds: float = 0.0
    products: dict[str, Product] = field(default_factory=dict)
    buyers: dict[str, Buyer] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    call_seq: int = 0
    # CloudTrail's event history of the Metering Service calls received (cloudtrail.py), oldest first.
    trail: list[dict[str, Any]] = field(default_factory=list)
    trail_seq: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    notification_seq: int = 0
    webhooks: list[str] = field(default_factory=list)
    # MeterUsage ClientToken -> {"fingerprint": ..., "metering_record_id": ...}
    client_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The seller's agreement cancellation requests (cancellations.py): request id -> the request as the API answers it
    cancellation_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The seller's billing adjustments (refunds, billing_adjustments.py): request id -> the adjustment
    billing_adjustments: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Derived, rebuilt on load: dedup key -> ledger index.
    dedup: dict[str, int] = field(default_factory=dict)
    # Derived, rebuilt on load: licence ARN -> its agreements' ids, oldest first (a renewal keeps the licence). Every
    # metered record looks its licence up: a scan of every subscription would make a call's cost grow with the buyers.
    by_license: dict[str, list[str]] = field(default_factory=dict)
    # Derived, rebuilt on load: the agreements unsubscribed and not finalized yet (every status set since included).
    # Every call first finalizes those whose grace ran out (lifecycle.tick): a scan of every subscription made a
    # call's cost grow with the buyers (1.5 ms of each call at 8,000).
    unsubscribing: set[str] = field(default_factory=set)

    def add_subscription(self, sub: Subscription) -> None:
        self.subscriptions[sub.agreement_id] = sub
        self.by_license.setdefault(sub.license_arn, []).append(sub.agreement_id)
        if sub.status == UNSUBSCRIBING:
            self.unsubscribing.add(sub.agreement_id)

    # -- lookups -------------------------------------------------------------------------------------

    def subscriptions_by_license(self, license_arn: str) -> list[Subscription]:
        return [self.subscriptions[agreement] for agreement in self.by_license.get(license_arn, ())]

    def subscription_by_license(self, license_arn: str) -> Subscription | None:
        return pick_current(self.subscriptions_by_license(license_arn))

    def subscriptions_by_customer_identifier(self, customer_identifier: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.customer_identifier == customer_identifier]

    def subscriptions_for(self, product_code: str, account_id: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.product_code == product_code and s.account_id == account_id]

    # -- ledger --------------------------------------------------------------------------------------

    def add_ledger_record(self, record: dict[str, Any], dedup_key: str) -> None:
        self.dedup[dedup_key] = len(self.ledger)
        record["dedup_key"] = dedup_key
        self.ledger.append(record)

    def ledger_record_for(self, dedup_key: str) -> dict[str, Any] | None:
        index = self.dedup.get(dedup_key)
        return None if index is None else self.ledger[index]

    def log_call(self, entry: dict[str, Any]) -> None:
        self.call_seq += 1
        entry["seq"] = self.call_seq
        self.calls.append(entry)
        limit = int(self.config.get("max_calls_kept") or 0)
        if limit and len(self.calls) > limit:
            del self.calls[: len(self.calls) - limit]

    def add_trail_event(self, event: dict[str, Any]) -> None:
        self.trail_seq += 1
        event["seq"] = self.trail_seq
        self.trail.append(event)
        limit = int(self.config.get("max_calls_kept") or 0)
        if limit and len(self.trail) > limit:
            del self.trail[: len(self.trail) - limit]

    # -- persistence ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("dedup")
        data.pop("by_license")
        data.pop("unsubscribing")
        data["version"] = STATE_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> World:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state file version {data.get('version')!r}")
        config = default_config()
        # Keys a newer emulator dropped (e.g. eventbridge_license_arn_without_prefix) are left behind.
        config.update({k: v for k, v in (data.get("config") or {}).items() if k in config})
        world = cls(
            config=config,
            clock_offset_seconds=float(data.get("clock_offset_seconds", 0.0)),
            products={k: Product(**v) for k, v in data.get("products", {}).items()},
            buyers={k: Buyer(**v) for k, v in data.get("buyers", {}).items()},
            subscriptions={k: Subscription(**v) for k, v in data.get("subscriptions", {}).items()},
            tokens={k: Token(**v) for k, v in data.get("tokens", {}).items()},
            ledger=list(data.get("ledger", [])),
            calls=list(data.get("calls", [])),
            call_seq=int(data.get("call_seq", 0)),
            trail=list(data.get("trail", [])),
            trail_seq=int(data.get("trail_seq", 0)),
            notifications=list(data.get("notifications", [])),
            notification_seq=int(data.get("notification_seq", 0)),
            webhooks=list(data.get("webhooks", [])),
            client_tokens=dict(data.get("client_tokens", {})),
            cancellation_requests=dict(data.get("cancellation_requests", {})),
            billing_adjustments=dict(data.get("billing_adjustments", {})),
        )
        for index, record in enumerate(world.ledger):
            world.dedup[record["dedup_key"]] = index
        for sub in world.subscriptions.values():
            world.by_license.setdefault(sub.license_arn, []).append(sub.agreement_id)
            if sub.status == UNSUBSCRIBING:
                world.unsubscribing.add(sub.agreement_id)
        return world

    def save(self, path: Path) -> None:
        write_state(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> World:
        with path.open(encoding="utf-8") as stream:
            return cls.from_json(json.load(stream))


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write must leave the previous state file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream, separators=(",", ":"))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
