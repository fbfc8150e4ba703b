"""The device registry: which keys may send, for which accounts, within which limits."""

from __future__ import annotations

from typing import Any

from paymote.crypto import cose, ed25519, messages
from paymote.crypto.errors import FieldError
from paymote.gateway.store import Device, Store


class RegistryError(ValueError):
    """A registration the registry refuses; the message says why."""


def check_accounts(payer: str, allowed_payees: list[str]) -> None:
    """The account rules a registration must meet; RegistryError says which fails."""
    for account in [payer, *allowed_payees]:
        if not messages.is_account(account):
            raise RegistryError(f"account {account!r}: use 1-32 of a-z 0-9 . : _ -")
    if not allowed_payees:
        raise RegistryError("name at least one payee the device may pay (--allow-payee)")
    if payer in allowed_payees:
        raise RegistryError("the payer cannot also be a payee")


def add(
    store: Store,
    public_key: bytes,
    payer: str,
    allowed_payees: list[str],
    now_s: int,
    max_amount_minor: int | None = None,
    max_daily_minor: int | None = None,
    board: str | None = None,
) -> Device:
    try:
        ed25519.check_public_key(public_key)
    except FieldError as e:
        raise RegistryError(f"public key refused: {e.problem}") from None
    check_accounts(payer, allowed_payees)
    for name, limit in (("--max-amount", max_amount_minor), ("--max-daily", max_daily_minor)):
        if limit is not None and limit < 1:
            raise RegistryError(f"{name} must be a positive number of minor units")
    device_id = cose.key_id(public_key)
    if store.device(device_id) is not None:
        raise RegistryError(f"device {device_id.hex()} is already registered")
    device = Device(
        device_id=device_id,
        public_key=public_key,
        board=board,
        payer=payer,
        allowed_payees=tuple(allowed_payees),
        max_amount_minor=max_amount_minor,
        max_daily_minor=max_daily_minor,
        status="active",
        registered_s=now_s,
        revoked_s=None,
        flagged=None,
        last_seq=0,
        last_hash=messages.GENESIS_HASH,
        day=0,
        spent_minor=0,
    )
    with store.transaction():
        store.add_device(device)
    return device


def find(store: Store, device_id_hex: str) -> Device:
    try:
        device_id = bytes.fromhex(device_id_hex)
    except ValueError:
        raise RegistryError(f"{device_id_hex!r} is not a hex device id") from None
    device = store.device(device_id)
    if device is None:
        raise RegistryError(f"no device {device_id_hex}")
    return device


def revoke(store: Store, device_id_hex: str, now_s: int) -> Device:
    device = find(store, device_id_hex)
    with store.transaction():
        store.revoke_device(device.device_id, now_s)
    return find(store, device_id_hex)


def as_json(device: Device) -> dict[str, Any]:
    """The stable JSON form (docs/protocol.md §9)."""
    return {
        "device_id": device.device_id.hex(),
        "public_key": device.public_key.hex(),
        "board": device.board,
        "status": device.status,
        "payer": device.payer,
        "allowed_payees": list(device.allowed_payees),
        "max_amount_minor": device.max_amount_minor,
        "max_daily_minor": device.max_daily_minor,
        "registered_s": device.registered_s,
        "revoked_s": device.revoked_s,
        "flagged": device.flagged,
        "last_seq": device.last_seq,
    }
