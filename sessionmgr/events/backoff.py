"""When to try a failed webhook delivery again, and when to give up.

Helpers are local processes: most failures are a helper restarting, so the
first retries come fast; a helper that stays away is tried less and less often
and given up on about a day after the first attempt, when the user is told.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC

__all__ = [
    "GIVE_UP_AFTER",
    "JITTER",
    "RETRY_AFTER_CAP",
    "RETRY_SCHEDULE",
    "next_delay",
    "parse_retry_after",
]

# Seconds to wait after the 1st, 2nd, ... failed attempt; after these, hourly.
RETRY_SCHEDULE: tuple[float, ...] = (0.2, 1, 5, 30, 120, 600, 1800)
HOURLY = 3600.0
# No attempt is scheduled later than this after the first one.
GIVE_UP_AFTER = 24 * 3600.0
# Each delay is spread by up to this fraction either way, so helpers that
# failed together do not all come back in the same instant.
JITTER = 0.2
# A helper cannot push its next attempt further out than this.
RETRY_AFTER_CAP = 3600.0


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date), capped at 1 h.

    ``None`` when absent or unreadable; a date in the past means 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(float(text), RETRY_AFTER_CAP)
    import email.utils  # only for an HTTP-date, rare; the e-mail package is costly to import

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC in RFC 5322 terms
        when = when.replace(tzinfo=UTC)
    return min(max(when.timestamp() - now, 0.0), RETRY_AFTER_CAP)


def next_delay(
    attempts: int,
    *,
    first_attempt_at: float,
    now: float,
    retry_after: str | None = None,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait after ``attempts`` failed tries, or ``None`` to give up.

    The delay follows :data:`RETRY_SCHEDULE` with ±20% jitter and is never
    shorter than a ``Retry-After`` the helper sent (capped at 1 h). A retry
    that would fall later than :data:`GIVE_UP_AFTER` after the first attempt
    is not scheduled: the delivery has failed.
    """
    if attempts < 1:
        raise ValueError("next_delay is for after a failed attempt (attempts >= 1)")
    base = RETRY_SCHEDULE[attempts - 1] if attempts <= len(RETRY_SCHEDULE) else HOURLY
    delay = base * (1.0 + JITTER * (2.0 * rng() - 1.0))
    asked = parse_retry_after(retry_after, now=now)
    if asked is not None:
        delay = max(delay, asked)
    if not math.isfinite(delay):
        return None
    if now + delay > first_attempt_at + GIVE_UP_AFTER:
        return None
    return delay
