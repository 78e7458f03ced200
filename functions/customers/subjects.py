"""The subjects a buyer's lifecycle is kept under (the names Marketplace's notifications use for them: an agreement, a
licence, a legacy customer identifier), what is kept under each, and a buyer's lifecycle read from them.

Kept apart from the notification models so that reading a customer (every handler does) imports no parser, and
from the DynamoDB store (``functions.customers.lifecycle_store``) so that the lifecycle's rules import no boto3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from functions.customers.model import Customer
from functions.customers.notices import AgreementNotice
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times

# renewals of renewals: each round reads the agreements the previous one linked
MAX_LINK_ROUNDS = 6

_LICENCE_ID = re.compile(r"(l-[0-9A-Za-z]+)\Z")


def agreement_subject(agreement_id: str) -> str:
    return f"AGMT#{agreement_id}"


def licence_subject(licence_id: str) -> str:
    return f"LIC#{licence_id}"


def legacy_subject(product_code: str, customer_identifier: str) -> str:
    return f"LEGACY#{product_code}#{customer_identifier}"


def licence_id(license_arn: str | None) -> str | None:
    """``l-...`` of a licence ARN, with or without its ``arn:`` prefix."""
    match = _LICENCE_ID.search(license_arn or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class FreeTrialWord:
    """What Marketplace last said about a subscription's free trial, and when."""

    free_trial: bool
    at: datetime


@dataclass(frozen=True)
class SubjectRecord:
    """What one subject (an agreement, a licence, a legacy customer) has recorded of the lifecycle."""

    times: LifecycleTimes
    agreements: frozenset[str] = frozenset()  # agreement ids this subject leads to
    free_trial: FreeTrialWord | None = None  # the newest legacy subscribe-success's isFreeTrialTermPresent
    # an agreement's start as its Purchase Agreement Created said (``agreement.startTime``): a future-dated agreement
    # is created when it is accepted and starts later
    start: datetime | None = None


@dataclass(frozen=True)
class AgreementSpan:
    """When one of a buyer's agreements held their licence, as far as its events tell: from its start (its Created's
    ``startTime``, else the Created's own time) to its end (its Purchase Agreement Ended); None where none was heard."""

    agreement_id: str
    start: datetime | None
    end: datetime | None
    replaced: bool = False  # a renewal names it as the agreement it replaces: it started before that one


@dataclass(frozen=True)
class BuyerLifecycle:
    """A buyer's lifecycle as their subjects' records tell it together."""

    times: LifecycleTimes  # the buyer's, derived (see functions.customers.subscription.buyer_times)
    agreements: frozenset[str]  # every agreement linked to the buyer
    free_trial: FreeTrialWord | None = None  # the newest legacy subscribe-success's word on a free trial
    spans: tuple[AgreementSpan, ...] = ()  # each linked agreement's, by id


def _licence_key(customer: Customer) -> str | None:
    arn = customer.ref.license_arn or customer.legacy_license_arn
    return licence_subject(licence_id(arn) or arn) if arn else None


def _legacy_key(customer: Customer) -> str | None:
    identifier = customer.ref.customer_identifier
    return legacy_subject(customer.ref.product_code, identifier) if identifier else None


def primary_subject(customer: Customer) -> str:
    """Where the buyer's own end is recorded: their legacy identifier, else their licence."""
    subject = _legacy_key(customer) or _licence_key(customer)
    assert subject is not None  # a CustomerRef names one of the two
    return subject


def buyer_lifecycle(customer: Customer, read: Callable[[Sequence[str]], Mapping[str, SubjectRecord]]) -> BuyerLifecycle:
    """The buyer's lifecycle: their licence, legacy identifier and every agreement linked to them, read round by
    round (a renewal is only found through the agreement it replaced)."""
    return buyer_lifecycles([customer], read)[0]


def buyer_lifecycles(
    customers: Sequence[Customer], read: Callable[[Sequence[str]], Mapping[str, SubjectRecord]]
) -> list[BuyerLifecycle]:
    """Each buyer's lifecycle, all read together: one read per round for every buyer at once."""
    agreements = [{c.agreement_id} if c.agreement_id else set() for c in customers]
    records: dict[str, SubjectRecord] = {}
    asked: set[str] = set()
    wanted = list(
        dict.fromkeys(
            [s for c in customers for s in (_licence_key(c), _legacy_key(c)) if s]
            + [agreement_subject(a) for found in agreements for a in found]
        )
    )
    for _ in range(MAX_LINK_ROUNDS):
        if not wanted:
            break
        asked.update(wanted)
        records.update(read(wanted))
        for customer, found in zip(customers, agreements, strict=True):
            subjects = [s for s in (_licence_key(customer), _legacy_key(customer)) if s]
            subjects += [agreement_subject(a) for a in found]
            found.update(*(records[s].agreements for s in subjects if s in records))
        wanted = list(dict.fromkeys(s for found in agreements for s in map(agreement_subject, found) if s not in asked))
    return [_lifecycle(c, found, records) for c, found in zip(customers, agreements, strict=True)]


def _lifecycle(customer: Customer, agreements: set[str], records: Mapping[str, SubjectRecord]) -> BuyerLifecycle:
    licence_key, legacy_key = _licence_key(customer), _legacy_key(customer)
    empty = SubjectRecord(LifecycleTimes())
    agreement, linked_at = customer.agreement_id, customer.agreement_linked_at
    times = buyer_times(
        records.get(licence_key or "", empty).times if licence_key else None,
        {a: _agreement_times(records.get(agreement_subject(a), empty)) for a in agreements},
        records.get(legacy_key or "", empty).times if legacy_key else None,
        linked={agreement: linked_at} if agreement and linked_at else {},
    )
    # only the legacy subject carries it: SNS messages name the buyer by product code and customer identifier
    free_trial = records.get(legacy_key, empty).free_trial if legacy_key else None
    return BuyerLifecycle(
        times, frozenset(agreements), free_trial, tuple(_span(a, records) for a in sorted(agreements))
    )


def _agreement_times(record: SubjectRecord) -> LifecycleTimes:
    return replace(record.times, starts_at=record.start) if record.start else record.times


def _span(agreement_id: str, records: Mapping[str, SubjectRecord]) -> AgreementSpan:
    record = records.get(agreement_subject(agreement_id), SubjectRecord(LifecycleTimes()))
    start = record.start or min(record.times.activations, default=None)
    return AgreementSpan(agreement_id, start, record.times.ending, replaced=bool(record.agreements))


class LifecycleStore(Protocol):
    def record(self, subject: str, kind: LifecycleKind, at: datetime) -> bool:
        """Keep ``at`` as the latest ``kind`` time of ``subject``; False if a time as new was already kept."""
        ...

    def link(self, subject: str, agreement_id: str) -> None:
        """Remember that ``subject`` leads to the agreement (a licence's agreement, an agreement's renewal)."""
        ...

    def read(self, subjects: Sequence[str]) -> dict[str, SubjectRecord]:
        """Strongly consistent: an event recorded before this call is seen."""
        ...

    def record_free_trial_term(self, subject: str, word: FreeTrialWord) -> bool:
        """Keep what a subscribe-success said about a free trial unless a newer one was kept; False if one was."""
        ...

    def record_deprovision(self, subject: str, at: datetime) -> None:
        """Keep that a License Deprovisioned at ``at`` named this agreement (its ``agreement.id``): idempotent."""
        ...

    def record_start(self, subject: str, at: datetime) -> None:
        """Keep an agreement's start (its Purchase Agreement Created's ``startTime``) unless one was kept."""
        ...

    def record_notice(self, notice: AgreementNotice) -> bool:
        """Keep an agreement's notice unless one of its key that stands over it was kept (``AgreementNotice.order``);
        False if one was."""
        ...
