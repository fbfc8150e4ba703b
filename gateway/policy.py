"""Policy: may this authentic, in-sequence intent move money? A pure function."""

from __future__ import annotations

from paymote.crypto.messages import Intent
from paymote.gateway.outcomes import Refused
from paymote.gateway.store import Device

SECONDS_PER_DAY = 86400


def utc_day(time_s: float) -> int:
    return int(time_s // SECONDS_PER_DAY)


def spent_today(device: Device, now_s: float) -> int:
    """What the device has spent in the current UTC day of gateway time."""
    return device.spent_minor if device.day == utc_day(now_s) else 0


def refusal(device: Device, intent: Intent, now_s: float) -> Refused | None:
    """Why the intent is refused, or None when it may be recorded."""
    if intent.payer != device.payer:
        return Refused(f"payer {intent.payer} is not this device's ({device.payer})", "payer")
    if intent.payee not in device.allowed_payees:
        return Refused(f"payee {intent.payee} is not allowed for this device", "payee")
    if device.max_amount_minor is not None and intent.amount_minor > device.max_amount_minor:
        return Refused(
            f"amount {intent.amount_minor} over the per-intent limit {device.max_amount_minor}",
            "amount_limit",
        )
    if device.max_daily_minor is not None:
        if spent_today(device, now_s) + intent.amount_minor > device.max_daily_minor:
            return Refused(
                f"amount {intent.amount_minor} would pass the daily limit {device.max_daily_minor}",
                "daily_limit",
            )
    return None
