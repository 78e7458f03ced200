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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from botocore.exceptions import ClientError

from functions.storage.dynamodb import batch_get, condition_failed, storage_error
from functions.storage.times import parse_time, time_text
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
    at: datetime | None = None  # when it was worked out and first kept (None: not kept yet)
    # when it was last claimed to be sent (None: kept by a version before this was kept): a refund AWS lists nothing
    # of a day after this was never taken (operations.refund_settlement)
    sent: datetime | None = None
    # when ``cli adjust --settle`` found AWS never took it: never sent again, its hours free as a failed one's are
    void: datetime | None = None
    # when AWS refused it outright as it was sent again: never sent again, left to ``cli adjust --settle`` (a refund
    # AWS refuses as it is would be sent, and its last send moved on, every run: attack 37)
    refused: datetime | None = None


def _refund_item(asked: AskedRefund, at: datetime, sent: datetime) -> dict[str, Any]:
    entry = asked.entry
    return {
        **_key(_ASKED + entry.client_token),
        "token": {"S": entry.client_token},
        "at": {"S": time_text(at)},
        "sent": {"S": time_text(sent)},
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
    at = parse_time(item["at"]["S"]) if "at" in item else None
    sent = parse_time(item["sent"]["S"]) if "sent" in item else None
    void = parse_time(item["voided"]["S"]) if "voided" in item else None
    refused = parse_time(item["refused"]["S"]) if "refused" in item else None
    return AskedRefund(entry, keys, item["month"]["S"], item["units"]["S"], request_id, at, sent, void, refused)


@dataclass(frozen=True)
class EarlierRefunds:
    """What earlier runs asked AWS to refund of some hours, as the next run must take it."""

    # an hour's key: the token(s) of the refund(s) that hold it (left out of any other refund)
    asked: dict[str, str]
    retried: dict[str, str]  # an hour's key: the billing adjustment AWS failed for it (asked for again, a new token)
    unanswered: list[AskedRefund]  # sent before, no answer came, its hours its own: sent again as they were
    failed: frozenset[str]  # the tokens of the refunds AWS failed: their hours are free to claim again
    # sent before, no answer came, and another refund holds one of its hours: never sent again (see earlier_refunds)
    overlapping: list[AskedRefund] = field(default_factory=list)


Aliases = Callable[[str], Iterable[str]]  # every key an hour's claim may be under (``operations.adjust.claim_aliases``)


def earlier_refunds(
    claims: Iterable[tuple[str, str]],
    kept: Iterable[AskedRefund],
    failed_adjustments: set[str],
    formerly: Mapping[str, str],
    nearby: tuple[Iterable[tuple[str, str]], Iterable[AskedRefund], Aliases],
) -> EarlierRefunds:
    """What the next run must take of earlier refunds: ``claims``, each hour's key with the token that claimed it
    (an hour may be claimed under its former key too, ``formerly`` maps it to its key now, and by several refunds);
    ``kept``, those refunds as sent; ``failed_adjustments``, the billing adjustments AWS failed after taking them.

    Every refund that holds an hour is kept in view, never one of them only (review 28: whichever claim was read last
    won, and an hour refunded once was refunded again where the other refund of it had failed). A refund AWS failed
    refunded nothing: its hours are free, asked for again under a token of their own. A refund whose answer never
    came is sent again as it was, its hours all its own (claimed or not yet: a run stopped midway), unless another
    refund holds one of them: that one may have refunded them, and whether AWS took this one is not known, so it is
    never sent again, and its hours stay held (an earlier version could claim an hour twice). ``nearby``: the claims
    under every alias of such a refund's hours, the window's or not, with their refunds and the aliases: a holder
    outside the window holds it too (review 29: a narrower window sent it again)."""
    claims = list(claims)
    holders: dict[str, set[str]] = {}
    for key, token in claims:
        holders.setdefault(formerly.get(key, key), set()).add(token)
    refunds = {r.entry.client_token: r for r in kept}
    # a refund AWS failed, or never took (voided by cli adjust --settle), refunded nothing
    failed = {token: r for token, r in refunds.items() if r.request_id in failed_adjustments or r.void is not None}
    unanswered = [r for r in refunds.values() if r.request_id is None and r.void is None]
    for refund in unanswered:
        for key in refund.keys:
            holders.setdefault(formerly.get(key, key), set()).add(refund.entry.client_token)
    live = {key: sorted(t for t in tokens if t not in failed) for key, tokens in holders.items()}
    # held by two refunds or more: named by all, so no proposal's token is its holder's (it is left out of every one)
    asked = {key: ", ".join(tokens) for key, tokens in live.items() if tokens}
    alone = [r for r in unanswered if all(asked[formerly.get(k, k)] == r.entry.client_token for k in r.keys)]
    retried = {
        key: min(refunded_nothing(failed[t]) for t in tokens if t in failed)
        for key, tokens in holders.items()
        if key not in asked and any(t in failed for t in tokens)
    }
    around, around_kept, aliases = nearby
    by_key: dict[str, set[str]] = {}
    for key, token in [*claims, *around]:
        by_key.setdefault(key, set()).add(token)
    gone = set(failed) | {
        r.entry.client_token for r in around_kept if r.request_id in failed_adjustments or r.void is not None
    }

    def shared(refund: AskedRefund) -> bool:
        token = refund.entry.client_token
        return any(t not in (token, *gone) for k in refund.keys for a in aliases(k) for t in by_key.get(a, ()))

    alone = [r for r in alone if not shared(r)]
    overlapping = [r for r in unanswered if r not in alone]
    return EarlierRefunds(asked, retried, alone, frozenset(failed), overlapping)


def refunded_nothing(refund: AskedRefund) -> str:
    """What a refund that refunded nothing is known by, which a refund of its hours asked for after it names (its token
    is made of it): the adjustment AWS failed, or, for one AWS never took, its own token."""
    return str(refund.request_id) if refund.request_id is not None else f"void {refund.entry.client_token}"


class ClaimReads(Protocol):
    def claims_of(self, keys: Sequence[str]) -> list[tuple[str, str]]: ...

    def refunds(self, tokens: Iterable[str]) -> list[AskedRefund]: ...

    def unanswered(self) -> list[AskedRefund]:
        """Every refund kept whose answer never came, whatever hours it refunds."""
        ...


def read_earlier(
    store: ClaimReads,
    keys: Sequence[str],
    failed_adjustments: set[str],
    formerly: Mapping[str, str],
    aliases: Aliases,
) -> EarlierRefunds:
    """The refunds earlier runs asked for of these hours, as any store of claims reads them (``earlier_refunds``).
    ``failed_adjustments``: the billing adjustments AWS failed after taking them (they refunded nothing).
    ``formerly``: a key an hour may have been claimed under by an earlier version, with the hour's key now
    (``operations.adjust.former_keys``); ``aliases``: every key an unanswered refund's hours may be claimed under,
    read too, whether or not the window holds them."""
    read = list(dict.fromkeys([*keys, *formerly]))
    claims = store.claims_of(read)
    kept = store.refunds(token for _, token in claims)
    # and every one whose answer never came, its hours in the window or not: it is sent again or shown, never
    # forgotten by a run over another window (attack 32)
    seen = {r.entry.client_token for r in kept}
    kept += [r for r in store.unanswered() if r.entry.client_token not in seen]
    known = set(read)
    wanted = [a for r in kept if r.request_id is None for k in r.keys for a in aliases(k) if a not in known]
    around = store.claims_of(list(dict.fromkeys(wanted)))
    mine = {r.entry.client_token for r in kept}
    around_kept = store.refunds(token for _, token in around if token not in mine)
    return earlier_refunds(claims, kept, failed_adjustments, formerly, (around, around_kept, aliases))


class DynamoRefundClaims:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def refunds(self, tokens: Iterable[str]) -> list[AskedRefund]:
        """The refunds of these tokens as they were sent (kept since review 27b), by token (an answer kept alone, its
        refund removed meanwhile, holds none to read)."""
        items = batch_get(self._client, self._table, [_key(_ASKED + t) for t in sorted(set(tokens))])
        return sorted((_asked(i) for i in items if "agreement" in i), key=lambda a: a.entry.client_token)

    def earlier(
        self,
        keys: Sequence[str],
        failed_adjustments: set[str],
        formerly: Mapping[str, str],
        aliases: Aliases,
    ) -> EarlierRefunds:
        """The refunds earlier runs asked for of these hours (``read_earlier``)."""
        return read_earlier(self, keys, failed_adjustments, formerly, aliases)

    def unanswered(self) -> list[AskedRefund]:
        items = self._kept_refunds("attribute_not_exists(request_id) AND attribute_not_exists(voided)")
        return sorted((_asked(item) for item in items), key=lambda a: a.entry.client_token)

    def _kept_refunds(self, condition: str, projection: str | None = None) -> list[dict[str, Any]]:
        """Every refund kept (``ASKED#``) whose item meets ``condition``, read whole or ``projection``."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :asked)",
            "FilterExpression": condition,
            "ExpressionAttributeValues": {":pk": {"S": _PK}, ":asked": {"S": _ASKED}},
            "ConsistentRead": True,
        } | ({"ProjectionExpression": projection} if projection else {})
        found: list[dict[str, Any]] = []
        while True:
            try:
                page = self._client.query(**request)
            except ClientError as error:
                raise storage_error(error) from error
            found += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _kept_item(self, token: str) -> dict[str, Any]:
        """The refund ``token`` as kept (an answer kept alone included: it holds no refund to read); {} if none."""
        try:
            answer = self._client.get_item(TableName=self._table, Key=_key(_ASKED + token), ConsistentRead=True)
        except ClientError as error:
            raise storage_error(error) from error
        return dict(answer.get("Item", {}))

    def claims_of(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        """Each of these hours' claims, as (key, token)."""
        items = batch_get(self._client, self._table, [_key(k) for k in keys]) if keys else []
        return [(item["sk"]["S"], item["token"]["S"]) for item in items]

    def claim(self, asked: AskedRefund, at: datetime, replacing: Iterable[str] = ()) -> bool:
        """Keep the refund, then claim every hour of it; False (and nothing claimed) if another refund holds one, or
        AWS's answer to this one is kept already (a run beside this one sent it: it is never sent again).
        ``replacing``: the tokens of refunds AWS failed, whose hours are free to claim again."""
        token = asked.entry.client_token
        holders = {":token": {"S": token}} | {f":failed{i}": {"S": t} for i, t in enumerate(sorted(set(replacing)))}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_refund_item(asked, asked.at or at, at),  # a retry keeps when it was first worked out
                # kept already, unanswered: this is a retry of it (kept again as it was)
                # kept, unanswered and not void: a retry of it (one --settle voided is never sent again)
                ConditionExpression="attribute_not_exists(pk) OR (attribute_not_exists(request_id) AND "
                "attribute_not_exists(voided))",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
            return False  # answered meanwhile: its hours are that refund's, as they are
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
        """AWS took the refund ``token``: it is never sent again (and void no longer, where a run beside the one that
        sent it kept it void, AWS having refused that run's send of it)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(_ASKED + token),
                UpdateExpression="SET request_id = :id REMOVE voided",
                ExpressionAttributeValues={":id": {"S": request_id}},
            )
        except ClientError as error:
            raise storage_error(error) from error

    def answers(self) -> dict[str, str]:
        """Every billing adjustment kept as a refund's answer, with that refund's token."""
        items = self._kept_refunds("attribute_exists(request_id)", "sk, request_id")
        return {i["request_id"]["S"]: i["sk"]["S"].removeprefix(_ASKED) for i in items}

    def void(self, asked: AskedRefund, at: datetime) -> bool:
        """Keep that AWS never took the refund (``operations.refund_settlement``): it is never sent again, and its
        hours are free, as a failed refund's are (its claims stay: one write, so nothing a run stopped midway leaves
        half done; attacks 36 and 37). Only where no run sent it since ``asked`` was read (its ``sent`` as read) and
        no answer is kept; True if kept."""
        values: dict[str, Any] = {":token": {"S": asked.entry.client_token}, ":void": {"S": time_text(at)}}
        sent = "attribute_not_exists(#sent)"
        if asked.sent is not None:
            sent, values[":sent"] = "#sent = :sent", {"S": time_text(asked.sent)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(_ASKED + asked.entry.client_token),
                UpdateExpression="SET voided = :void",
                ConditionExpression=(
                    f"#token = :token AND attribute_not_exists(request_id) AND attribute_not_exists(voided) AND {sent}"
                ),
                ExpressionAttributeNames={"#token": "token", "#sent": "sent"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error
            return False
        return True

    def refused(self, token: str, at: datetime) -> None:
        """AWS refused the refund ``token`` outright as it was sent again: it is never sent again, and ``cli adjust
        --settle`` tells what became of it (the refusal may answer a retry of a send AWS took: botocore retries a call
        whose answer was lost, and AWS may look at the room left before the token; attack 38). Sent no more, it is a
        day from its last send, this one, once (a refund sent again and refused every day never was: attack 37)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(_ASKED + token),
                UpdateExpression="SET refused = :at",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(request_id)",
                ExpressionAttributeValues={":at": {"S": time_text(at)}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise storage_error(error) from error

    def claimed_at(self, asked: AskedRefund) -> datetime | None:
        """When the refund's hours were last claimed by it: an earlier version, which kept no ``sent``, claimed them
        again each time it sent it (attack 37)."""
        items = batch_get(self._client, self._table, [_key(k) for k in dict.fromkeys(asked.keys)])
        times = [parse_time(i["at"]["S"]) for i in items if i.get("token", {}).get("S") == asked.entry.client_token]
        return max(times, default=None)

    def release(self, keys: Sequence[str], token: str) -> None:
        """Remove the refund ``token`` and its claims of these hours (AWS refused it: nothing was refunded), unless
        AWS's answer to it is kept: another run sent the same refund and AWS took it (attack 34), so its hours are
        that refund's. The refund goes first: a run stopped midway leaves its hours held, never free."""
        for key in (_ASKED + token, *keys):
            answered = " AND attribute_not_exists(request_id)" if key.startswith(_ASKED) else ""
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(key),
                    ConditionExpression="#token = :token" + answered,
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise storage_error(error) from error
                if answered and "request_id" in self._kept_item(token):
                    return  # answered: kept, with its hours
