"""Settings the daemon's schedules and sensors read, through :mod:`quant_assets.settings`."""

from __future__ import annotations

from quant_assets.settings import ENV_NAMES, Settings, SettingsError, read_setting


def days_from_env(name: str, default: int, *, minimum: int) -> int:
    """A whole number of trading days from ``$name`` (``default`` when unset).

    ``name`` is one of the day settings of :class:`quant_assets.settings.Settings`, which reads
    and validates it; ``default`` must be that setting's default (one definition per setting: a
    caller that disagrees is a bug and raises). Raises ``ValueError`` naming the variable when
    the value is not a whole number or is below ``minimum`` (or the setting's own range), so a
    typo fails the tick loudly instead of silently changing behaviour.
    """
    if name not in ENV_NAMES:
        raise KeyError(f"{name} is not defined in quant_assets.settings")
    field = next(f for f in Settings.model_fields.values() if f.alias == name)
    if field.default != default:
        raise ValueError(f"{name}: default {default} differs from the setting's {field.default}")
    days = read_setting(name)
    if days < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {days}")
    return days
