"""Lifecycle event times and links, kept per subject (what an event names the buyer by) in the customers table.

Layout: ``pk = <subject>`` (``AGMT#<agreement id>``, ``LIC#<l-...>``, ``LEGACY#<product code>#<identifier>``),
``sk = "LIFECYCLE"``, one attribute per kind (``lc_activated``, ...) holding the latest event time seen (and
``lc_activations``, a string set of every activation's time: when each subscription started; ``lc_ending_times`` and
``lc_ended_times``, of every ending's and ended's: when each was left; an agreement's ``lc_deprovisioned_times``, of
every License Deprovisioned that named it), and
``agreements``, a string set of agreement ids the subject leads to: a licence's agreements (License events name
both), an agreement's renewals (Purchase Agreement Created, intent RENEW or REPLACE, names its previous agreement);
an agreement's ``agreement_start``, its Created's ``agreement.startTime`` (a future-dated agreement starts after it
is created). Each event is one conditional ``SET lc_<kind> = :t`` (only if absent or older) and links are ``ADD`` to
a set: atomic, commutative and idempotent, so duplicates and every arrival order converge. A buyer's state is derived
when the customer is read (``functions.customers.subjects.buyer_lifecycle``): an event that arrives before the buyer
registered, or before anything links its agreement to them, needs no special path: it is simply there once the
customer is read. A legacy subscribe-success keeps its ``isFreeTrialTermPresent`` the same way: ``free_trial_term``
with its time ``free_trial_term_at``, replaced only by a newer one (a reused customer identifier's later subscription
is the current one; a late old message is not).

Notices (``functions.customers.notices``) are kept beside the agreement's lifecycle item, ``pk = AGMT#<agreement id>``,
``sk = NOTICE#<key>``: ``kind``, ``status``, ``at``, ``details`` (a map of text) and ``notice_order`` (its time and step
as text, after ``final#`` for a notice nothing of its key follows, so one conditional write keeps the one that stands,
``AgreementNotice.order``: the same convergence as the event times).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.customers.notices import AgreementNotice, NoticeKind
from functions.customers.subjects import FreeTrialWord, SubjectRecord, agreement_subject
from functions.customers.subscription import LifecycleKind, LifecycleTimes
from functions.storage.dynamodb import batch_get, condition_failed, storage_error
from functions.storage.times import parse_time, time_text

LIFECYCLE_SK = "LIFECYCLE"
NOTICE_SK_PREFIX = "NOTICE#"


def is_lifecycle_item(item: dict[str, Any]) -> bool:
    return bool(item.get("sk", {}).get("S") == LIFECYCLE_SK)


def is_notice_item(item: dict[str, Any]) -> bool:
    return str(item.get("sk", {}).get("S", "")).startswith(NOTICE_SK_PREFIX)


def _notice_order(notice: AgreementNotice) -> str:
    final, at, step = notice.order
    # a final notice's order starts with a letter, after every time's digits: it outranks any other of its key,
    # one kept before final notices were (a bare time) as well
    return f"{'final#' if final else ''}{time_text(at)}#{step}"


def notice_of_item(item: dict[str, Any]) -> AgreementNotice:
    return AgreementNotice(
        agreement_id=item["agreement_id"]["S"],
        kind=NoticeKind(item["kind"]["S"]),
        key=item["sk"]["S"][len(NOTICE_SK_PREFIX) :],
        status=item["status"]["S"],
        at=parse_time(item["at"]["S"]),
        details={name: value["S"] for name, value in item.get("details", {}).get("M", {}).items()},
    )


def record_of_item(item: dict[str, Any]) -> SubjectRecord:
    times = LifecycleTimes()
    for activation in item.get("lc_activations", {}).get("SS", ()):
        times = times.merge(LifecycleKind.ACTIVATED, parse_time(activation))
    for name in ("ending_times", "ended_times"):  # sets only: the latest of each kind is its own attribute
        kept = frozenset(parse_time(t) for t in item.get(f"lc_{name}", {}).get("SS", ()))
        times = replace(times, **{name: getattr(times, name) | kept})
    for kind in LifecycleKind:
        if f"lc_{kind.value}" in item:
            times = times.merge(kind, parse_time(item[f"lc_{kind.value}"]["S"]))
    free_trial = None
    if "free_trial_term_at" in item:
        free_trial = FreeTrialWord(
            bool(item.get("free_trial_term", {}).get("BOOL", False)), parse_time(item["free_trial_term_at"]["S"])
        )
    deprovisioned = frozenset(parse_time(t) for t in item.get("lc_deprovisioned_times", {}).get("SS", ()))
    if deprovisioned:
        times = replace(times, deprovisioned_times=deprovisioned)
    start = parse_time(item["agreement_start"]["S"]) if "agreement_start" in item else None
    return SubjectRecord(times, frozenset(item.get("agreements", {}).get("SS", ())), free_trial, start)


class DynamoLifecycleStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record(self, subject: str, kind: LifecycleKind, at: datetime) -> bool:
        if kind is LifecycleKind.ACTIVATED:
            self._record_activation(subject, at)
        if kind in (LifecycleKind.ENDING, LifecycleKind.ENDED):
            self._keep_every_end(subject, kind, at)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "sk": {"S": LIFECYCLE_SK}},
                UpdateExpression="SET #t = :t",
                ConditionExpression="attribute_not_exists(#t) OR #t < :t",
                ExpressionAttributeNames={"#t": f"lc_{kind.value}"},
                ExpressionAttributeValues={":t": {"S": time_text(at)}},
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise storage_error(error) from error
        return True

    def _keep_every_end(self, subject: str, kind: LifecycleKind, at: datetime) -> None:
        """``at`` into its kind's set; then the latest ending and ended as they stood, where the sets lack them: an
        item written before the sets were kept holds its earlier leave only there, and the SET that follows may
        overwrite it (attack 41). Whoever overwrites one saw it first (the first update answers the item as it was), so
        none is lost; ADD is idempotent, so retries and races are too."""
        old = self._add_times(subject, {f"lc_{kind.value}_times": {time_text(at)}})
        missing: dict[str, set[str]] = {}
        for each in (LifecycleKind.ENDING, LifecycleKind.ENDED):
            latest = old.get(f"lc_{each.value}", {}).get("S")
            if latest is not None and latest not in old.get(f"lc_{each.value}_times", {}).get("SS", ()):
                missing[f"lc_{each.value}_times"] = {latest}
        if missing:
            self._add_times(subject, missing)

    def _add_times(self, subject: str, times: dict[str, set[str]]) -> dict[str, Any]:
        """ADD each set's times; the item as it was before."""
        names = sorted(times)
        try:
            return dict(
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": subject}, "sk": {"S": LIFECYCLE_SK}},
                    UpdateExpression="ADD " + ", ".join(f"{name} :{name}" for name in names),
                    ExpressionAttributeValues={f":{name}": {"SS": sorted(times[name])} for name in names},
                    ReturnValues="ALL_OLD",
                ).get("Attributes", {})
            )
        except ClientError as error:
            raise storage_error(error) from error

    def _record_activation(self, subject: str, at: datetime) -> None:
        """Every activation's time, in a set (``ADD``: every order of events ends the same): a re-subscription's start
        is told from its earlier one's (``functions.customers.subscription.buyer_times``)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "sk": {"S": LIFECYCLE_SK}},
                UpdateExpression="ADD lc_activations :t",
                ExpressionAttributeValues={":t": {"SS": [time_text(at)]}},
            )
        except ClientError as error:
            raise storage_error(error) from error

    def link(self, subject: str, agreement_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "sk": {"S": LIFECYCLE_SK}},
                UpdateExpression="ADD agreements :a",
                ExpressionAttributeValues={":a": {"SS": [agreement_id]}},
            )
        except ClientError as error:
            raise storage_error(error) from error

    def record_deprovision(self, subject: str, at: datetime) -> None:
        self._add_times(subject, {"lc_deprovisioned_times": {time_text(at)}})

    def record_start(self, subject: str, at: datetime) -> None:
        # one Created per agreement (its duplicates say the same): the first kept stays
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "sk": {"S": LIFECYCLE_SK}},
                UpdateExpression="SET agreement_start = if_not_exists(agreement_start, :t)",
                ExpressionAttributeValues={":t": {"S": time_text(at)}},
            )
        except ClientError as error:
            raise storage_error(error) from error

    def record_free_trial_term(self, subject: str, word: FreeTrialWord) -> bool:
        # the newest word wins, as event times do: duplicates and every arrival order end the same
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "sk": {"S": LIFECYCLE_SK}},
                UpdateExpression="SET free_trial_term = :f, free_trial_term_at = :t",
                ConditionExpression="attribute_not_exists(free_trial_term_at) OR free_trial_term_at < :t",
                ExpressionAttributeValues={":f": {"BOOL": word.free_trial}, ":t": {"S": time_text(word.at)}},
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise storage_error(error) from error
        return True

    def record_notice(self, notice: AgreementNotice) -> bool:
        """Keep the notice unless one of its key that stands over it was kept; False if one was (a duplicate, a late old
        one, a completion of a refund kept failed)."""
        order = _notice_order(notice)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": agreement_subject(notice.agreement_id)}, "sk": {"S": NOTICE_SK_PREFIX + notice.key}},
                UpdateExpression=(
                    "SET agreement_id = :agreement, kind = :kind, #status = :status, #at = :at, details = :details, "
                    "notice_order = :order"
                ),
                ConditionExpression="attribute_not_exists(notice_order) OR notice_order < :order",
                ExpressionAttributeNames={"#status": "status", "#at": "at"},
                ExpressionAttributeValues={
                    ":agreement": {"S": notice.agreement_id},
                    ":kind": {"S": notice.kind.value},
                    ":status": {"S": notice.status},
                    ":at": {"S": time_text(notice.at)},
                    ":details": {"M": {name: {"S": value} for name, value in notice.details.items()}},
                    ":order": {"S": order},
                },
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise storage_error(error) from error
        return True

    def read(self, subjects: Sequence[str]) -> dict[str, SubjectRecord]:
        keys = [{"pk": {"S": s}, "sk": {"S": LIFECYCLE_SK}} for s in dict.fromkeys(subjects)]
        return {item["pk"]["S"]: record_of_item(item) for item in batch_get(self._client, self._table, keys)}
