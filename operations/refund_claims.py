"""The over-billed hours ``cli adjust --send`` asked AWS to refund, each kept under its refund's client token in the
metering table (``pk = REFUND``, ``sk = <product>#<customer>#<dimension>#<hour>``, ``token``, ``at``), so that a later
refund (another window, a new over-billed hour beside them) leaves them out: each hour is refunded once.

A claim is written before its refund is sent (conditional: no claim of the hour, or one by the same token, a retry of
the same refund) and removed only when AWS refused the refund; an answer that never came keeps it, so that hour is
never offered again under another token. No expiry: the refunds of a month are asked for months after it.

The refund itself is kept beside its claims (``sk = ASKED#<token>``: the entry as sent and the hours it covers) until
AWS answers it (``request_id``): a refund whose answer never came (AWS down on every attempt, the run stopped before
the call) is sent again, as it was, by the next run whose window holds one of its hours, whatever else that window
holds; its token makes it the same refund where AWS took it (review 27b: another token left the hour "refunded
before" and never sent). A refund AWS took and then failed (``Purchase Agreement Billing Adjustment Failed``, kept as a
notice) refunded nothing: its hours are claimed again by the next refund of them, under a token of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from functions.storage.dynamodb import batch_get, condition_failed, storage_error
from functions.storage.times import time_text
from operations.agreement_billing import RefundEntry

_PK = "REFUND"
_ASKED = "ASKED#"  # the refund a client token sent


def _key(hour: str) -> dict[str, Any]:
    return {"pk": {"S": _PK}, "sk": {"S": hour}}


@dataclass(frozen=True)
class AskedRefund:
    """A refund as it was sent: one whose answer never came is sent again as it was."""

    entry: RefundEntry
    keys: tuple[str, ...]  # the hours it refunds (``operations.adjust.refund_key``)
    month: str
    units: str
    request_id: str | None = None  # the billing adjustment AWS made of it (None: no answer came)


def _refund_item(asked: AskedRefund, at: datetime) -> dict[str, Any]:
    entry = asked.entry
    return {
        **_key(_ASKED + entry.client_token),
        "token": {"S": entry.client_token},
        "at": {"S": time_text(at)},
        "agreement": {"S": entry.agreement_id},
        "invoice": {"S": entry.invoice_id},
        "amount": {"S": str(entry.amount)},
        "currency": {"S": entry.currency},
        "reason": {"S": entry.reason_code},
        "description": {"S": entry.description},
        "hours": {"L": [{"S": k} for k in asked.keys]},
        "month": {"S": asked.month},
        "units": {"S": asked.units},
    }


def _asked(item: dict[str, Any]) -> AskedRefund:
    entry = RefundEntry(
        agreement_id=item["agreement"]["S"],
        invoice_id=item["invoice"]["S"],
        amount=Decimal(item["amount"]["S"]),
        currency=item["currency"]["S"],
        reason_code=item["reason"]["S"],
        description=item["description"]["S"],
        client_token=item["token"]["S"],
    )
    keys = tuple(k["S"] for k in item["hours"]["L"])
    request_id = item["request_id"]["S"] if "request_id" in item else None
    return AskedRefund(entry, keys, item["month"]["S"], item["units"]["S"], request_id)


@dataclass(frozen=True)
class EarlierRefunds:
    """What earlier runs asked AWS to refund of some hours, as the next run must take it."""

    asked: dict[str, str]  # an hour's key: the token of the refund that holds it (left out of any other refund)
    retried: dict[str, str]  # an hour's key: the billing adjustment AWS failed for it (asked for again, a new token)
    unanswered: list[AskedRefund]  # sent before, no answer came: sent again as they were
    failed: frozenset[str]  # the tokens of the refunds AWS failed: their hours are free to claim again


class DynamoRefundClaims:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def claimed(self, keys: Sequence[str]) -> dict[str, str]:
        """The client token of the refund that claimed each of these hours, where one did."""
        items = batch_get(self._client, self._table, [_key(k) for k in dict.fromkeys(keys)])
        return {item["sk"]["S"]: item["token"]["S"] for item in items}

    def refunds(self, tokens: Iterable[str]) -> list[AskedRefund]:
        """The refunds of these tokens as they were sent (kept since review 27b), by token."""
        items = batch_get(self._client, self._table, [_key(_ASKED + t) for t in sorted(set(tokens))])
        return sorted((_asked(i) for i in items), key=lambda a: a.entry.client_token)

    def earlier(
        self, keys: Sequence[str], failed_adjustments: set[str], formerly: Mapping[str, str] | None = None
    ) -> EarlierRefunds:
        """The refunds earlier runs asked for of these hours. ``failed_adjustments``: the billing adjustments AWS
        failed after taking them (they refunded nothing). ``formerly``: a key an hour may have been claimed under by
        an earlier version, with the hour's key now (``operations.adjust.former_keys``)."""
        formerly = formerly or {}
        asked = {formerly.get(k, k): token for k, token in self.claimed([*keys, *formerly]).items()}
        kept = self.refunds(asked.values())
        # a refund AWS failed after taking it refunded nothing: its hours are asked for again, under a token of its own
        failed = {r.entry.client_token: r for r in kept if r.request_id in failed_adjustments}
        asked = {key: token for key, token in asked.items() if token not in failed}
        # a refund whose answer never came is sent again as it was (its token: the same refund where AWS took it), and
        # every hour it covers is its own, claimed or not yet (a run stopped midway through claiming)
        unanswered = [r for r in kept if r.request_id is None]
        asked.update({formerly.get(key, key): a.entry.client_token for a in unanswered for key in a.keys})
        retried = {
            formerly.get(key, key): str(r.request_id)
            for r in failed.values()
            for key in r.keys
            if formerly.get(key, key) not in asked
        }
        return EarlierRefunds(asked, retried, unanswered, frozenset(failed))

    def claim(self, asked: AskedRefund, at: datetime, replacing: Iterable[str] = ()) -> bool:
        """Keep the refund, then claim every hour of it; False (and nothing claimed) if another refund holds one.
        ``replacing``: the tokens of refunds AWS failed, whose hours are free to claim again."""
        token = asked.entry.client_token
        holders = {":token": {"S": token}} | {f":failed{i}": {"S": t} for i, t in enumerate(sorted(set(replacing)))}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_refund_item(asked, at),
                ConditionExpression="attribute_not_exists(pk)",  # kept already: this is a retry of it
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
        for key in dict.fromkeys(asked.keys):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={**_key(key), "token": {"S": token}, "at": {"S": time_text(at)}},
                    ConditionExpression=f"attribute_not_exists(pk) OR #token IN ({', '.join(holders)})",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues=holders,
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error
                self.release(asked.keys, token)
                return False
        return True

    def answered(self, token: str, request_id: str) -> None:
        """AWS took the refund ``token``: it is never sent again."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(_ASKED + token),
                UpdateExpression="SET request_id = :id",
                ExpressionAttributeValues={":id": {"S": request_id}},
            )
        except ClientError as error:
            raise storage_error(error) from error

    def release(self, keys: Sequence[str], token: str) -> None:
        """Remove the refund ``token`` and its claims of these hours (AWS refused it: nothing was refunded)."""
        for key in (*keys, _ASKED + token):
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(key),
                    ConditionExpression="#token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error
