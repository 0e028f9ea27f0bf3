"""The retry schedule: fast first retries, hourly later, give up after a day, Retry-After wins."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionmgr.events.backoff import (
    GIVE_UP_AFTER,
    RETRY_SCHEDULE,
    next_delay,
    parse_retry_after,
)

T0 = 1_700_000_000.0


def no_jitter() -> float:
    return 0.5


def test_schedule_then_hourly_without_jitter() -> None:
    delays = [next_delay(n, first_attempt_at=T0, now=T0, rng=no_jitter) for n in range(1, 11)]
    assert delays == pytest.approx([0.2, 1, 5, 30, 120, 600, 1800, 3600, 3600, 3600])
    assert RETRY_SCHEDULE == (0.2, 1, 5, 30, 120, 600, 1800)


@pytest.mark.parametrize(("rng", "factor"), [(0.0, 0.8), (0.999999, 1.2), (0.25, 0.9)])
def test_jitter_is_twenty_percent_either_way(rng: float, factor: float) -> None:
    got = next_delay(4, first_attempt_at=T0, now=T0, rng=lambda: rng)
    assert got == pytest.approx(30 * factor, rel=1e-5)


@given(attempts=st.integers(1, 40), r=st.floats(0, 1, exclude_max=True),
       elapsed=st.floats(0, GIVE_UP_AFTER))
def test_delay_is_within_jitter_or_gives_up_at_the_deadline(attempts: int, r: float,
                                                            elapsed: float) -> None:
    base = RETRY_SCHEDULE[attempts - 1] if attempts <= len(RETRY_SCHEDULE) else 3600
    got = next_delay(attempts, first_attempt_at=T0, now=T0 + elapsed, rng=lambda: r)
    jittered = base * (1 + 0.2 * (2 * r - 1))
    assert base * 0.8 - 1e-9 <= jittered <= base * 1.2 + 1e-9
    if got is None:
        assert T0 + elapsed + jittered > T0 + GIVE_UP_AFTER
    else:
        assert got == pytest.approx(jittered)
        assert T0 + elapsed + got <= T0 + GIVE_UP_AFTER


def test_gives_up_about_a_day_after_the_first_attempt() -> None:
    now, attempts = T0, 0
    while True:
        attempts += 1
        delay = next_delay(attempts, first_attempt_at=T0, now=now, rng=no_jitter)
        if delay is None:
            break
        now += delay
    # 7 scheduled retries reach ~42.6 min, then hourly until the day is over.
    assert attempts == 31
    assert GIVE_UP_AFTER - 3600 < now - T0 <= GIVE_UP_AFTER


def test_retry_after_seconds_is_honoured_and_capped() -> None:
    assert next_delay(1, first_attempt_at=T0, now=T0, retry_after="120",
                      rng=no_jitter) == 120
    assert next_delay(1, first_attempt_at=T0, now=T0, retry_after="999999",
                      rng=no_jitter) == 3600
    # never sooner than the schedule says
    assert next_delay(6, first_attempt_at=T0, now=T0, retry_after="3",
                      rng=no_jitter) == pytest.approx(600)


def test_retry_after_http_date() -> None:
    later = email.utils.formatdate(T0 + 90, usegmt=True)
    assert parse_retry_after(later, now=T0) == pytest.approx(90)
    assert next_delay(1, first_attempt_at=T0, now=T0, retry_after=later,
                      rng=no_jitter) == pytest.approx(90)
    earlier = email.utils.formatdate(T0 - 90, usegmt=True)
    assert parse_retry_after(earlier, now=T0) == 0
    far = email.utils.formatdate(T0 + 86400, usegmt=True)
    assert parse_retry_after(far, now=T0) == 3600


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "-5", "1.5", "Mon, 99 Foo 20x"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=T0) is None
    assert next_delay(2, first_attempt_at=T0, now=T0, retry_after=value,
                      rng=no_jitter) == pytest.approx(1)


def test_retry_after_past_the_deadline_gives_up() -> None:
    now = T0 + GIVE_UP_AFTER - 60
    assert next_delay(30, first_attempt_at=T0, now=now, retry_after="120") is None


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next_delay(0, first_attempt_at=T0, now=T0)
