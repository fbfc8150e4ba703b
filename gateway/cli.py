"""The `paymote` command. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

LEDGER_FORMATS = ("text", "json", "jsonl", "csv")  # gateway/ledger_command.py writes each
STORE_HELP = "the ledger in PostgreSQL, postgresql://... (once: DIR remembers it; docs/protocol.md §9)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paymote", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser(
        "sample", help="build, sign, verify and print a sample intent, attestation and reading batch"
    )
    sample.add_argument("--seed", type=int, default=1, help="derive the device key and data from N")
    sample.add_argument("--json", action="store_true", help="print one JSON object (stable format)")

    devices = commands.add_parser("devices", help="the device registry").add_subparsers(
        dest="action", required=True
    )
    add = devices.add_parser("add", help="register a device's public key")
    add.add_argument("--pubkey", required=True, help="raw Ed25519 public key, 64 hex digits")
    add.add_argument("--payer", required=True, help="the account the device's intents debit")
    add.add_argument("--allow-payee", action="append", default=[], metavar="ACCOUNT", required=True)
    add.add_argument("--max-amount", type=int, help="limit per intent, minor units")
    add.add_argument("--max-daily", type=int, help="limit per UTC day, minor units")
    add.add_argument("--board", help="board definition name")
    add.add_argument("--store", metavar="URL", help=STORE_HELP)
    for name in ("list", "show", "revoke"):
        sub = devices.add_parser(name)
        if name != "list":
            sub.add_argument("device_id", help="16 hex digits")
    for sub in devices.choices.values():
        sub.add_argument("--data", type=Path, required=True, help="the gateway's data directory")
        sub.add_argument("--json", action="store_true")

    ledger = commands.add_parser("ledger", help="read and check the ledger").add_subparsers(
        dest="action", required=True
    )
    for name, default in (("balances", "text"), ("show", "text"), ("verify", "text"), ("export", "jsonl")):
        sub = ledger.add_parser(name)
        sub.add_argument("--data", type=Path, required=True)
        sub.add_argument("--format", choices=LEDGER_FORMATS, default=default)
        sub.add_argument("--json", dest="format", action="store_const", const="json", help="--format json")

    firmware = commands.add_parser("firmware", help="build firmware for a board").add_subparsers(
        dest="action", required=True
    )
    build = firmware.add_parser("build", help="compile firmware/ and crypto/ with mpy-cross, with a manifest")
    build.add_argument("--board", required=True, help="a board definition in boards/")
    build.add_argument("--out", type=Path, required=True, help="output directory (replaced)")
    build.add_argument("--arch", help="override the board's mpy-cross architecture (x64 for the simulator)")
    build.add_argument(
        "--romfs",
        action="store_true",
        help="lib/ in a ROMFS image, romfs.img, for a board with a ROM partition",
    )
    build.add_argument("--json", action="store_true", help="print the manifest as JSON")

    provision = commands.add_parser(
        "provision", help="install firmware on a board, make its key, register it"
    )
    provision.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0")
    provision.add_argument("--board", required=True, help="a board definition in boards/")
    provision.add_argument("--gateway", required=True, help="coap://HOST:PORT the board will send to")
    provision.add_argument("--data", type=Path, required=True, help="the gateway's data directory")
    provision.add_argument("--wifi-ssid")
    provision.add_argument("--wifi-password")
    provision.add_argument("--payer", help="account the device's intents debit (default dev-DEVICEID)")
    provision.add_argument("--allow-payee", help="payee account (default: the board's product payee)")
    provision.add_argument("--arch", help="override the board's mpy-cross architecture (x64: virtual boards)")
    provision.add_argument(
        "--batch-intents",
        type=int,
        help="intents per batch upload after being offline (default 5, 2 on a heap under 128 KB; "
        "over 5 goes block-wise)",
    )
    provision.add_argument("--json", action="store_true", help="print the registered device as JSON")

    sim = commands.add_parser("sim", help="simulate a fleet of boards").add_subparsers(
        dest="action", required=True
    )
    from paymote.simulator import sim_command

    sim_command.add_arguments(sim.add_parser("run", help="run virtual boards against a gateway, with faults"))
    demo = commands.add_parser(
        "demo", help="the whole system in 30 seconds on virtual boards (./paymote-demo/)"
    )
    demo.add_argument("--data", type=Path, default=Path("paymote-demo"))
    demo.add_argument("--duration", type=float, default=30.0, help="real seconds the boards run")
    demo.add_argument("--seed", type=int, default=1)

    gateway = commands.add_parser("gateway", help="run the CoAP gateway").add_subparsers(
        dest="action", required=True
    )
    keygen = gateway.add_parser("keygen", help="create the gateway's receipt-signing key")
    keygen.add_argument("--data", type=Path, required=True)
    run = gateway.add_parser("run", help="serve CoAP until SIGTERM")
    run.add_argument("--config", type=Path, help="gateway.toml (see gateway/config.py)")
    run.add_argument("--data", type=Path, help="data directory (overrides the config)")
    run.add_argument("--bind", help="HOST:PORT for CoAP (default 127.0.0.1:5683)")
    run.add_argument("--metrics", help="HOST:PORT for the Prometheus endpoint")
    run.add_argument(
        "--workers", type=int, help="request processes on the port beside the ledger writer (default 1)"
    )
    run.add_argument("--store", metavar="URL", help=STORE_HELP)
    return parser


def _devices(args: argparse.Namespace) -> int:
    from paymote.gateway import registry
    from paymote.gateway.store import Store, StoreError, bind

    try:
        if getattr(args, "store", None):
            bind(args.data, args.store)
        store = Store(args.data)
    except StoreError as e:
        print(f"paymote devices {args.action}: {e}", file=sys.stderr)
        return 1
    try:
        if args.action == "add":
            try:
                public = bytes.fromhex(args.pubkey)
            except ValueError:
                raise registry.RegistryError("--pubkey wants 64 hex digits") from None
            result = [
                registry.add(
                    store,
                    public,
                    args.payer,
                    args.allow_payee,
                    int(time.time()),
                    args.max_amount,
                    args.max_daily,
                    args.board,
                )
            ]
        elif args.action == "list":
            result = store.devices()
        elif args.action == "show":
            result = [registry.find(store, args.device_id)]
        else:
            result = [registry.revoke(store, args.device_id, int(time.time()))]
    except registry.RegistryError as e:
        print(f"paymote devices {args.action}: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    rows = [registry.as_json(d) for d in result]
    if args.json:
        print(json.dumps(rows if args.action == "list" else rows[0]))
    else:
        for row in rows:
            limits = f"max {row['max_amount_minor']}/intent {row['max_daily_minor']}/day"
            print(
                f"{row['device_id']}  {row['status']:8} {row['payer']} -> {','.join(row['allowed_payees'])}  "
                f"{limits}  seq {row['last_seq']}{'  FLAGGED: ' + row['flagged'] if row['flagged'] else ''}"
            )
    return 0


def _ledger(args: argparse.Namespace) -> int:
    from paymote.gateway import ledger_command
    from paymote.gateway.store import StoreError

    try:
        if args.action == "balances":
            return ledger_command.balances(args.data, args.format)
        if args.action == "verify":
            return ledger_command.verify(args.data, args.format)
        return ledger_command.entries(args.data, args.format)  # show and export differ in their default
    except StoreError as e:  # a PostgreSQL ledger out of reach
        print(f"paymote ledger {args.action}: {e}", file=sys.stderr)
        return 2  # as for no ledger at all: nothing was checked


def _gateway(args: argparse.Namespace) -> int:
    from paymote.gateway import keys, service

    if args.action == "keygen":
        args.data.mkdir(parents=True, exist_ok=True)
        path = args.data / keys.KEY_FILE
        if path.exists():
            print(f"paymote gateway keygen: {path} exists; not replacing it", file=sys.stderr)
            return 1
        key = keys.create(path)
        print(json.dumps({"key_file": str(path), "kid": key.kid.hex(), "public_key": key.public.hex()}))
        return 0
    from paymote.gateway.config import ConfigError

    try:
        config = service.config_from_args(
            args.data, args.bind, args.metrics, args.config, args.workers, args.store
        )
    except ConfigError as e:
        print(f"paymote gateway run: {e}", file=sys.stderr)
        return 2
    return service.run(config)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "sample":
        from paymote.gateway import sample_command

        if args.seed < 0:
            print("paymote sample: --seed must be 0 or more", file=sys.stderr)
            return 2
        return sample_command.run(args.seed, args.json)
    if args.command == "devices":
        return _devices(args)
    if args.command == "ledger":
        return _ledger(args)
    if args.command == "provision":
        from paymote.gateway import provision

        return provision.run(args)
    if args.command == "sim":
        from paymote.simulator import sim_command

        return sim_command.run(args)
    if args.command == "demo":
        from paymote.simulator import demo

        return demo.run(args.data, args.duration, args.seed)
    if args.command == "firmware":
        from paymote.gateway import firmware_build

        return firmware_build.run(args.board, args.out, args.arch, args.json, args.romfs)
    return _gateway(args)


if __name__ == "__main__":
    sys.exit(main())
