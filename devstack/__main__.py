"""Command line of the local stack: `python -m devstack run|demo|token|bench`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading

from devstack.azurite import AzuriteError
from devstack.stack import LocalStack, Ports, local_settings, read_state

FIXED_PORTS = {"hub": 7080, "issuer": 7090, "azurite": 10002}


def _port(text: str) -> int:
    """Parse a TCP port number for argparse, naming the bad value."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return int(text)


def _run(args: argparse.Namespace) -> int:
    ports = Ports(host=args.port, **FIXED_PORTS)
    stack = LocalStack(ports, keep_hub_keys=True, publish_state=True)
    return _serve(stack, print_settings=False)


def _parts(args: argparse.Namespace) -> int:
    ports = Ports(host=0, **FIXED_PORTS)
    stack = LocalStack(
        ports,
        honour_settings=False,
        serve_functions=False,
        keep_hub_keys=True,
        publish_state=True,
    )
    return _serve(stack, print_settings=True)


def _serve(stack: LocalStack, *, print_settings: bool) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stack.start()
    except (OSError, AzuriteError) as exc:
        print(
            f"Could not start the local stack: {str(exc).rstrip('.')}. Another "
            "process may use one "
            f"of the ports {sorted({stack.ports.host, *FIXED_PORTS.values()})}; "
            "stop it, or choose the functions port with `make run port=N`.",
            file=sys.stderr,
        )
        return 1
    try:
        _describe(stack, print_settings)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        stack.stop()
    return 0


def _describe(stack: LocalStack, print_settings: bool) -> None:
    if stack.host is not None:
        print("\nFunction URLs:")
        for line in stack.host.routes():
            print(f"  {line}")
    if stack.issuer is not None:
        print("\nTokens: make token user=alice   or   make token sender=backend")
    if stack.hub is not None:
        print(f"Hub deliveries: {stack.hub.base_url}_standin/deliveries")
    if print_settings:
        document = {"IsEncrypted": False, "Values": local_settings(stack)}
        print("\nlocal.settings.json for func start:")
        print(json.dumps(document, indent=2))
    print("Press Ctrl+C to stop.", flush=True)


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
    run.add_argument(
        "--port", type=_port, default=7071, help="port of the function URLs"
    )
    run.set_defaults(handler=_run)
    commands.add_parser(
        "stack", help="start only Azurite, the hub stand-in and the issuer"
    ).set_defaults(handler=_parts)
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
        level=logging.INFO if args.command in ("run", "stack") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
