"""The flush schedule's longest gap between runs (``stacks.schedule``): what synth allows (at most 6 hours) so every
hour reaches Marketplace within its 24 hours, read from EventBridge's rate and cron forms; what cannot be told is
refused with how to write it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stacks.config import ConfigError, load_config
from stacks.schedule import longest_gap

PRODUCTS = [{"code": "prod-code-1", "name": "P", "dimensions": [{"name": "calls"}]}]


@pytest.mark.parametrize(
    ("schedule", "gap"),
    [
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(30 minutes)", timedelta(minutes=30)),
        ("rate(1 day)", timedelta(days=1)),
        ("cron(5 * * * ? *)", timedelta(hours=1)),
        ("cron(0/15 */4 * * ? *)", timedelta(hours=4)),
        ("cron(0 0,6,12,18 * * ? *)", timedelta(hours=6)),
        ("cron(0 8-20 * * ? *)", timedelta(hours=12)),  # 20:00 to 08:00 the next day
        ("cron(0 3/7 ? * * *)", timedelta(hours=10)),  # 3, 10, 17, then 3 the next day
    ],
)
def test_the_longest_gap_between_runs(schedule: str, gap: timedelta) -> None:
    assert longest_gap(schedule) == gap


@pytest.mark.parametrize("schedule", ["cron(0 12 ? * MON-FRI *)", "cron(0 L * * ? *)", "cron(0 */0 * * ? *)", "x"])
def test_what_cannot_be_told_is_refused(schedule: str) -> None:
    with pytest.raises(ValueError, match=r"cron|rate"):
        longest_gap(schedule)


@pytest.mark.parametrize(
    ("schedule", "deploys"),
    [
        ("rate(6 hours)", True),
        ("rate(7 hours)", False),
        ("cron(0 8-20 * * ? *)", False),
        ("cron(0 MON * * ? *)", False),
    ],
)
def test_synth_refuses_a_schedule_that_may_send_an_hour_past_its_window(schedule: str, deploys: bool) -> None:
    context = {"products": PRODUCTS, "flush_schedule": schedule}
    if deploys:
        assert load_config(context).flush_schedule == schedule
        return
    with pytest.raises(ConfigError, match="flush_schedule"):
        load_config(context)


@pytest.mark.parametrize(
    ("cutoff", "delay", "deploys"),
    [(2700, 90, True), (3000, 299, True), (3000, 300, False), (2700, 59, False), (0, 60, True)],
)
def test_synth_refuses_a_final_hour_its_usage_cannot_be_sent_in(cutoff: int, delay: int, deploys: bool) -> None:
    context = {"products": PRODUCTS, "final_usage_cutoff_seconds": cutoff, "final_usage_delay_seconds": delay}
    if deploys:
        assert load_config(context).settings.final_usage_cutoff_seconds == cutoff
        return
    with pytest.raises(ConfigError, match="final_usage"):
        load_config(context)
