"""Command line of the local stack: `python -m devstack run|demo|token|bench`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading

from devstack.stack import LocalStack, Ports, read_state


def _run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalStack(
        Ports(host=args.port, hub=7080, issuer=7090, azurite=10002)
    ) as stack:
        assert stack.host is not None
        print("\nFunction URLs:")
        for line in stack.host.routes():
            print(f"  {line}")
        if stack.issuer is not None:
            print("\nTokens: make token user=alice   or   make token sender=backend")
        if stack.hub is not None:
            # A key of this local stand-in only, made anew at each start.
            print(f"\nHub stand-in: {stack.hub.connection_string()}")
            print(f"Deliveries:   {stack.hub.base_url}_standin/deliveries")
        print("Press Ctrl+C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def _token(args: argparse.Namespace) -> int:
    from devstack.issuer import mint_via_http

    if bool(args.user) == bool(args.sender):
        print("Name one of user=<id> or sender=<id>.", file=sys.stderr)
        return 2
    issuer = read_state().get("issuer")
    if issuer is None:
        print(
            "The running stack uses an external issuer; get tokens there.",
            file=sys.stderr,
        )
        return 2
    print(mint_via_http(issuer, user=args.user, sender=args.sender))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from devstack.demo import run_demo

    return run_demo()


def _bench(args: argparse.Namespace) -> int:
    from devstack.bench import run_bench

    return run_bench(args.requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve the functions on the local stack")
    run.add_argument("--port", type=int, default=7071, help="port of the function URLs")
    run.set_defaults(handler=_run)
    commands.add_parser("demo", help="play the secure-push scenario").set_defaults(
        handler=_demo
    )
    token = commands.add_parser("token", help="print a bearer token from `make run`")
    token.add_argument("--user", help="user id for a user token")
    token.add_argument("--sender", help="client id for a sender token")
    token.set_defaults(handler=_token)
    bench = commands.add_parser(
        "bench", help="measure the functions on the local stack"
    )
    bench.add_argument(
        "--requests", type=int, default=200, help="requests per measurement"
    )
    bench.set_defaults(handler=_bench)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING
        if args.command in ("demo", "token", "bench")
        else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
