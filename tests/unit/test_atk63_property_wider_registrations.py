"""Attack 63 (held: thousands of examples pass): attack 59's property with registrations as buyers make them: late
(the fulfillment URL visited up to two hours after accepting), again with the same agreement's token (a new token for
it, or a reload after the replay window), and with an older agreement's token after a newer one (an old tab). Only the
final state is checked (``check_heard``): the breaks attack 63 found are in the state between (usage answered then)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit import test_atk54_lifecycle_delivery_orders as atk54
from tests.unit import test_atk59_lifecycle_orders_with_registrations as atk59
from tests.unit.test_atk54_lifecycle_delivery_orders import Said

EXAMPLES = int(os.environ.get("ATK63_EXAMPLES", "200"))


@st.composite
def heard(draw: st.DrawFn) -> atk59.Heard:
    story = draw(atk54.stories(leaves_before_a_renewal_starts=draw(st.booleans())))
    registrations = []
    accepted_so_far: list[str] = []
    for said in story.said:
        if said.example.startswith("created_proposer"):
            accepted = said.renewal or said.agreement
            accepted_so_far.append(accepted)
            if draw(st.booleans()):
                delay = draw(st.one_of(st.integers(0, 10), st.integers(0, 150)))
                registrations.append(Said(said.minute + delay, atk54.REGISTER, accepted))
                if draw(st.integers(0, 3)) == 0:  # again, later
                    registrations.append(
                        Said(said.minute + delay + draw(st.integers(1, 240)), atk54.REGISTER, accepted)
                    )
    if len(accepted_so_far) > 1 and draw(st.integers(0, 3)) == 0:  # an old agreement's token, late
        old = draw(st.sampled_from(accepted_so_far[:-1]))
        last = max(s.minute for s in story.said)
        registrations.append(Said(draw(st.integers(0, last + 60)), atk54.REGISTER, old))
    return atk59.delivered(draw, story, registrations)


def test_property_wider_registrations() -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(heard())
    def check(case: atk59.Heard) -> None:
        atk54.check_heard(case)

    check()
