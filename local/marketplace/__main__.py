"""``python -m local.marketplace --port N [--host H] [--state-file F] [--demo --fulfillment-url URL]``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from .demo import DEFAULT_FULFILLMENT_URL, seed_demo
from .server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.marketplace", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--state-file", default=None, help="keep the world in this JSON file across restarts")
    parser.add_argument("--demo", action="store_true", help="seed a demo product and buyers")
    parser.add_argument("--fulfillment-url", default=DEFAULT_FULFILLMENT_URL)
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")

    # before anything is announced: a stop right after the "listening" line must still stop cleanly
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    server = EmulatorServer(host=args.host, port=args.port, state_file=args.state_file)
    if args.demo:
        seed_demo(server.marketplace, args.fulfillment_url)
    server.start()
    print(f"AWS Marketplace emulator listening on {server.url}", flush=True)
    print(f"  buyer page: {server.url}/   admin API: {server.url}/admin/", flush=True)
    if args.state_file:
        print(f"  state file: {args.state_file}", flush=True)

    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
