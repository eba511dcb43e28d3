"""Pacing on an absolute schedule, driven by a clock the test moves (no sleeping, no broker)."""

from __future__ import annotations

import pytest

from kafkalab.core.pacing import Pacer, parse_rate
from kafkalab.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_parse_rate():
    assert parse_rate(None, 10.0) == 10.0 and parse_rate("", 4.0) == 4.0
    assert parse_rate("max", 10.0) == 0.0 and parse_rate(0, 10.0) == 0.0 and parse_rate(" MAX ", 1.0) == 0.0
    assert parse_rate("25", 10.0) == 25.0
    for bad in ("fast", -3, 0.5, float("nan"), 2_000_000):
        with pytest.raises(ConfigError, match="rate_hz"):
            parse_rate(bad, 10.0)


# Rates and steps are powers of two, so the clock's arithmetic is exact.

def test_the_schedule_is_absolute_so_time_spent_sending_costs_no_rate():
    clock = Clock()
    pacer = Pacer(8.0, clock=clock)
    pacer.start()
    assert pacer.due() == 1  # the first record is due at once
    pacer.sent(1)
    assert pacer.due() == 0 and pacer.seconds_until_due() == 0.125
    clock.now += 0.0625
    assert pacer.due() == 0 and pacer.seconds_until_due() == 0.0625
    clock.now += 0.5625  # a slow send: the records due meanwhile are all due now
    assert pacer.due() == 5
    pacer.sent(5)
    sent = 6
    for _ in range(59):  # steps 0.125 s apart, each sending what is due
        clock.now += 0.125
        due = pacer.due()
        pacer.sent(due)
        sent += due
    assert clock.now == 108.0 and sent == 8 * 8 + 1  # one per 0.125 s, the first at 0


def test_far_behind_it_re_anchors_instead_of_bursting():
    clock = Clock()
    pacer = Pacer(64.0, clock=clock)
    pacer.start()
    pacer.sent(pacer.due())
    clock.now += 0.75  # behind, but within the lag allowed: catch up
    assert pacer.due() == 48
    clock.now += 32.0  # brokers were down: not 2,000 records at once
    assert pacer.due() == 1
    pacer.sent(1)
    clock.now += 0.25
    assert pacer.due() == 16


def test_batches_are_bounded_and_max_rate_always_sends_a_full_batch():
    clock = Clock()
    pacer = Pacer(131_072.0, max_batch=250, clock=clock)
    pacer.start()
    clock.now += 0.5
    assert pacer.due() == 250
    unpaced = Pacer(0.0, max_batch=250, clock=clock)
    unpaced.start()
    assert unpaced.due() == 250 and unpaced.seconds_until_due() == 0.0
