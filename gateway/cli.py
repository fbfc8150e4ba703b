"""The `paymote` command. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paymote", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sample = commands.add_parser(
        "sample", help="build, sign, verify and print a sample intent, attestation and reading batch"
    )
    sample.add_argument("--seed", type=int, default=1, help="derive the device key and data from N")
    sample.add_argument("--json", action="store_true", help="print one JSON object (stable format)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "sample":
        from paymote.gateway import sample_command

        if args.seed < 0:
            print("paymote sample: --seed must be 0 or more", file=sys.stderr)
            return 2
        return sample_command.run(args.seed, args.json)
    return 2


if __name__ == "__main__":
    sys.exit(main())
