"""The adversaries a simulation sends against the gateway, each with the
answer the gateway must give (docs/protocol.md §9):

    replay        an accepted intent sent again          2.04, same receipt, nothing written
    tampered      an accepted intent, amount changed     4.01 (the signature no longer matches)
    clone         the victim's key signs another intent  4.09, the device flagged as cloned
                  at a sequence number already accepted
    unregistered  a key the registry has never seen      4.01
    revoked       a registered, then revoked device      4.03
    over-limit    an intent above the device's limit     4.03

They talk to the gateway directly with aiocoap (not through the faulty
link), so the answer they get is the gateway's own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiocoap
import cbor2

from paymote.crypto import cose, ed25519, inbound, messages
from paymote.gateway import registry
from paymote.gateway.store import Store

EXPECTED = {
    "replay": "2.04",
    "tampered": "4.01",
    "clone": "4.09",
    "unregistered": "4.01",
    "revoked": "4.03",
    "over-limit": "4.03",
}
ANSWER_WAIT_S = 60.0  # the gateway may be down for a restart meanwhile


class SigningDevice:
    """Signs intents the way a board does: seq increasing, prev chaining."""

    def __init__(self, seed: int, payer: str = "hh-1", payee: str = "utility") -> None:
        self.key = ed25519.SigningKey(seed.to_bytes(32, "big"))
        self.kid = cose.key_id(self.key.public)
        self.payer = payer
        self.payee = payee
        self.seq = 0
        self.prev = messages.GENESIS_HASH

    def intent(
        self, amount_minor: int = 42, seq: int | None = None, payee: str | None = None, **fields
    ) -> bytes:
        """The next signed intent; advances the chain as a board would after signing."""
        self.seq = self.seq + 1 if seq is None else seq
        payload = messages.intent_payload(
            seq=self.seq,
            time_s=fields.pop("time_s", 1764374400 + self.seq * 900),
            prev=fields.pop("prev", self.prev),
            payer=self.payer,
            payee=payee or self.payee,
            amount_minor=amount_minor,
            currency=fields.pop("currency", "EUR"),
            evidence=[messages.EVIDENCE_ENERGY_WH, self.seq * 1000, self.seq * 1000 + 1400],
            tariff=[7, 2],
            period_s=900,
        )
        message = cose.sign1(payload, self.key, self.kid)
        self.prev = messages.chain_hash(message)
        return message

    def register(self, data_dir: Path, **limits) -> None:
        with Store(data_dir) as store:
            registry.add(store, self.key.public, self.payer, [self.payee], int(time.time()), **limits)


@dataclass
class Attempt:
    name: str
    expected: str
    got: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.got == self.expected


def register_adversaries(data_dir: Path, seed: int) -> dict[str, SigningDevice]:
    """The devices the adversaries need in the registry: one to revoke, one with a limit."""
    revoked = SigningDevice(seed * 1000 + 901, payer="adv-revoked")
    limited = SigningDevice(seed * 1000 + 902, payer="adv-limited")
    revoked.register(data_dir)
    limited.register(data_dir, max_amount_minor=100)
    with Store(data_dir) as store:
        registry.revoke(store, revoked.kid.hex(), int(time.time()))
    return {"revoked": revoked, "limited": limited}


def _tampered(message: bytes) -> bytes:
    """The same COSE_Sign1 with its amount raised by one: the signature stays the old one."""
    protected, unprotected, payload, signature = cbor2.loads(message).value
    fields = cbor2.loads(payload)
    fields[messages.Intent.KEYS[messages.Intent.FIELDS.index("amount_minor")]] += 1
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(fields), signature]))


def _clone(victim_seed: bytes, accepted: bytes) -> bytes:
    """Another intent at the accepted one's sequence number, signed with the victim's key."""
    intent = inbound.parse_intent(cbor2.loads(cbor2.loads(accepted).value[2]))
    fields = {name: getattr(intent, name) for name in messages.Intent.FIELDS}
    fields["amount_minor"] += 7
    key = ed25519.SigningKey(victim_seed)
    return cose.sign1(messages.intent_payload(**fields), key, cose.key_id(key.public))


def messages_for(
    accepted: bytes, victim_seed: bytes, devices: dict[str, SigningDevice], seed: int
) -> list[tuple[str, bytes]]:
    """(name, message) for every adversary; accepted: an intent the gateway
    took from the victim board, whose key is victim_seed."""
    stranger = SigningDevice(seed * 1000 + 903, payer="adv-stranger")
    return [
        ("replay", accepted),
        ("tampered", _tampered(accepted)),
        ("clone", _clone(victim_seed, accepted)),
        ("unregistered", stranger.intent()),
        ("revoked", devices["revoked"].intent()),
        ("over-limit", devices["limited"].intent(amount_minor=500)),
    ]


async def send_all(gateway: tuple[str, int], attacks: list[tuple[str, bytes]]) -> list[Attempt]:
    """POST each to /i and record the answer's code."""
    client = await aiocoap.Context.create_client_context()
    attempts = []
    try:
        for name, message in attacks:
            attempt = Attempt(name, EXPECTED[name])
            uri = f"coap://{gateway[0]}:{gateway[1]}/i"
            deadline = time.monotonic() + ANSWER_WAIT_S
            while attempt.got is None and time.monotonic() < deadline:
                request = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=message)
                try:
                    response = await asyncio.wait_for(client.request(request).response, 30)
                except (aiocoap.error.Error, asyncio.TimeoutError, OSError):
                    await asyncio.sleep(0.5)  # the gateway is restarting: ask again
                    continue
                code = response.code
                attempt.got = code.dotted
                attempt.detail = response.payload.decode(errors="replace") if not code.is_successful() else ""
            attempts.append(attempt)
    finally:
        await client.shutdown()
    return attempts
