"""Settings the daemon's schedules and sensors read from the environment."""

from __future__ import annotations

import os


def days_from_env(name: str, default: int, *, minimum: int) -> int:
    """A whole number of trading days from ``$name`` (``default`` when unset).

    Raises ``ValueError`` naming the variable when the value is not a whole number or is below
    ``minimum``, so a typo fails the tick loudly instead of silently changing behaviour.
    """
    value = os.environ.get(name, str(default))
    try:
        days = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of days, got {value!r}") from None
    if days < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {days}")
    return days
