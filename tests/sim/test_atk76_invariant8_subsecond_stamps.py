"""Attack 76: simulator invariant 8 (``sim/refusals.py``, added by this change) judges refusals against Marketplace's
own moments, which carry fractions of a second, while the product can only know the times AWS's messages give: an
EventBridge event's to the second, an SNS message's to the millisecond. So it reports billable usage refused where
the product did exactly what the stamps it heard say, in 3 of seeds 770,000-770,999 with the default flags (make sim):

- 770030 and 770774: a licence buyer left at 02:23:38.842 (22:53:41.967); the Ended / Deprovisioned says 02:23:38, so
  the cutoff is 03:08:38 (45 minutes on), and a batch at 03:08:38.603 is refused after it. The invariant's cutoff is
  the leave's true moment plus 45 minutes (03:08:38.842) and its ``STAMPED_TO`` allowance is not applied to it.
- 770289: a legacy buyer's Marketplace window starts at 00:22:13 (``SimMarketplace.subscribe`` truncates to the
  second) while their subscribe-success is stamped 00:22:13.375; an event stamped a fraction of a second before that
  is refused as before their subscription, and the invariant holds it billable.

No money is at stake (the product's cutoff and start are its own, to the second AWS gives); but the invariant fails
worlds that are right, so a range of seeds run in CI or by a reviewer (the change claims 0 of 0-999) fails for noise,
and a real refusal of the same text is hidden among these."""

from __future__ import annotations

import pytest

from sim.run import simulate


@pytest.mark.parametrize("seed", [770030, 770289, 770774])
def test_a_refusal_at_the_second_aws_stamped_is_not_billable_usage_refused(seed: int) -> None:
    result = simulate(seed, refunds=True)
    assert result.violations == (), (seed, result.first)
