"""Run the hub stand-in until SIGINT or SIGTERM: `python -m devstack.hubstandin`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from devstack.hubstandin.standin import FULL_RULE, LISTEN_RULE, HubStandIn


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.hubstandin",
        description="Serve a local Notification Hubs stand-in on 127.0.0.1.",
    )
    parser.add_argument(
        "--port", type=int, default=7080, help="TCP port (0 picks a free one)"
    )
    parser.add_argument(
        "--hub", default="securepush", help="hub name served at /{hub}/"
    )
    parser.add_argument(
        "--namespace", default="securepush-local", help="namespace name"
    )
    parser.add_argument(
        "--key",
        help="key text of the full-access rule (default: random per run)",
    )
    parser.add_argument(
        "--write-delay",
        type=float,
        default=0.0,
        help="seconds before installation writes become visible",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    keys = {FULL_RULE: arguments.key} if arguments.key else None
    hub = HubStandIn(arguments.hub, arguments.namespace, arguments.port, keys)
    hub.write_delay_seconds = arguments.write_delay
    stopping = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with hub:
        print(f"Hub: {arguments.hub}", flush=True)
        print(f"Connection string: {hub.connection_string(FULL_RULE)}", flush=True)
        print(f"Listen-only: {hub.connection_string(LISTEN_RULE)}", flush=True)
        stopping.wait()


if __name__ == "__main__":
    main()
