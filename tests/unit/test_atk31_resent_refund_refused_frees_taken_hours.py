"""Attack review 31: a refund AWS took is sent again by a later run over the same hours (its token is its own claim's);
if AWS answers that resend's entry with an error (``INTERNAL_FAILURE`` is one of the model's
``BillingAdjustmentErrorCode``s, answered per entry), ``cli adjust`` takes it as "refused by AWS: nothing refunded, the
hours free" and releases the claims and the kept refund of a refund AWS took, its billing adjustment id known. The next
run whose window groups the hour with one more over-billed hour of the agreement's month asks for it again under a new
token, and AWS takes that: the eu-west-1 hour is refunded twice. Invariants 1 and 3; at stake: the whole hour again
(here 3.00 over-billed in eu-west-1, refunded 3.00 + 3.00, beside the 1.50 of the new hour)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from functions.flush.audit import TrailResult
from operations.agreement_billing import RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR, Book
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders


@dataclass
class Agreements(Book):
    """AWS's Agreement Service as the emulator answers it (a token it took answers the same adjustment, refunding
    nothing more), failing one entry once with INTERNAL_FAILURE."""

    fail_next: bool = False

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        answers = []
        for entry in entries:
            taken = [i for i, e in enumerate(self.refunded) if e.client_token == entry.client_token]
            if self.fail_next:
                self.fail_next = False
                answers.append(RefundOutcome(entry.client_token, None, "INTERNAL_FAILURE", "try again"))
            elif taken:
                answers.append(RefundOutcome(entry.client_token, f"ba-{taken[0]}"))
            else:
                self.refunded.append(entry)
                answers.append(RefundOutcome(entry.client_token, f"ba-{len(self.refunded) - 1}"))
        return answers


def test_an_error_answering_a_resent_refund_never_frees_the_hours_aws_refunded() -> None:
    world = TwoRegions(home=None, away=300)
    world.book = agreements = Agreements()
    world.adjust()  # AWS takes the eu-west-1 hour's refund: 3.00
    agreements.fail_next = True
    world.adjust()  # the same refund sent again; this time its entry is answered INTERNAL_FAILURE
    later = outsiders(150, "m-later")
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": HOUR + timedelta(hours=1)}))
    _, rows = world.adjust(until=HOUR + timedelta(hours=1))
    # AWS over-billed 3.00 (eu-west-1, 09:00) + 1.50 (us-east-1, 10:00): never more refunded than that
    refunded = sum((e.amount for e in agreements.refunded), Decimal(0))
    assert refunded <= Decimal("4.50"), ([(e.amount, e.description) for e in agreements.refunded], rows)


@dataclass
class LostAnswer(Agreements):
    """Takes the refunds it is sent but its answer to the next call never comes (a timeout after AWS took it)."""

    lose_next: bool = False

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        answers = super().refund(entries)
        if self.lose_next:
            self.lose_next = False
            return []
        return answers


def test_an_error_answering_the_resend_of_an_unanswered_refund_never_frees_its_hours() -> None:
    world = TwoRegions(home=None, away=300)
    world.book = agreements = LostAnswer(lose_next=True)
    world.adjust()  # AWS takes the eu-west-1 hour's refund (3.00); its answer is lost
    agreements.fail_next = True
    world.adjust()  # sent again as it was: its entry answered INTERNAL_FAILURE (whether AWS took the first: unknown)
    later = outsiders(150, "m-later")
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": HOUR + timedelta(hours=1)}))
    _, rows = world.adjust(until=HOUR + timedelta(hours=1))
    refunded = sum((e.amount for e in agreements.refunded), Decimal(0))
    assert refunded <= Decimal("4.50"), ([(e.amount, e.description) for e in agreements.refunded], rows)
