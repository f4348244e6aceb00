"""``python -m wire``: inspect the codecs from a shell.

    python -m wire apis                              # every Kafka API with its versions
    python -m wire kafka-request HEX                 # decode a request payload (length prefix optional)
    python -m wire kafka-response KEY VERSION HEX    # decode a response payload
"""

from __future__ import annotations

import argparse
import sys
from pprint import pformat

from wire.errors import DecodeError
from wire.kafka.codec import decode_request, decode_response
from wire.kafka.messages import APIS


def _payload(hex_text: str) -> bytes:
    data = bytes.fromhex("".join(hex_text.split()))
    if len(data) >= 4 and int.from_bytes(data[:4], "big") == len(data) - 4:
        return data[4:]  # a whole frame: drop the length prefix
    return data


def _ranges(versions: frozenset[int]) -> str:
    return f"{min(versions)}-{max(versions)}" if versions else "-"


def cmd_apis() -> None:
    print(f"{'key':>4}  {'name':<34} {'versions':<9} {'flexible':<9} listeners")
    for key, info in sorted(APIS.items()):
        name = info.request_name.removesuffix("Request")
        flex = f"{min(info.request_flexible_versions)}+" if info.request_flexible_versions else "never"
        print(f"{key:>4}  {name:<34} {_ranges(info.versions):<9} {flex:<9} {','.join(info.listeners)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wire", description="Inspect wiretwin's protocol codecs.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("apis", help="list every Kafka API key with its version range")
    req = sub.add_parser("kafka-request", help="decode a Kafka request payload given as hex")
    req.add_argument("hex")
    resp = sub.add_parser("kafka-response", help="decode a Kafka response payload given as hex")
    resp.add_argument("api_key", type=int)
    resp.add_argument("api_version", type=int)
    resp.add_argument("hex")
    args = parser.parse_args(argv)
    try:
        if args.command == "apis":
            cmd_apis()
        elif args.command == "kafka-request":
            decoded = decode_request(_payload(args.hex))
            print(pformat(decoded.header))
            print(pformat(decoded.body))
        elif args.command == "kafka-response":
            header, body = decode_response(_payload(args.hex), args.api_key, args.api_version)
            print(pformat(header))
            print(pformat(body))
    except (DecodeError, ValueError) as exc:
        print(f"cannot decode: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
