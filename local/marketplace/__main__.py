"""``marketplace-emulator --port N [--host H] [--state-file F] [--demo --fulfillment-url URL]`` (installed), or
``python -m local.marketplace ...`` in its repository."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .demo import DEFAULT_FULFILLMENT_URL, seed_demo
from .server import EmulatorServer


def port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marketplace-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=8090, help="0: any free port (printed)")
    parser.add_argument("--state-file", default=None, help="keep the world in this JSON file across restarts")
    parser.add_argument("--demo", action="store_true", help="seed a demo product and buyers")
    parser.add_argument("--fulfillment-url", default=DEFAULT_FULFILLMENT_URL)
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")

    # before anything is announced: a stop right after the "listening" line must still stop cleanly
    stopped = threading.Event()

    def stop(*_: object) -> None:
        # once: a second signal landing inside the first one's Event.set would wait on its lock for ever
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        stopped.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    try:
        server = EmulatorServer(host=args.host, port=args.port, state_file=args.state_file)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"error: --state-file {args.state_file}: not a state file this emulator wrote ({error})", file=sys.stderr)
        return 2
    if args.demo:
        seed_demo(server.marketplace, args.fulfillment_url)
    try:
        server.start()
    except OSError as error:
        print(f"error: --host/--port: cannot listen on {args.host}:{args.port} ({error.strerror})", file=sys.stderr)
        return 2
    print(f"AWS Marketplace emulator listening on {server.url}", flush=True)
    print(f"  buyer page: {server.url}/   admin API: {server.url}/admin/", flush=True)
    if args.state_file:
        print(f"  state file: {args.state_file}", flush=True)

    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
