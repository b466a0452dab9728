"""Measure the functions end to end on the local stack and print the figures.

Each operation runs N times, one request at a time, through the function URLs
(local host, Azurite, hub stand-in, local issuer), and the script prints the
median, 95th percentile and maximum latency and the rate. These are figures of
this machine and the local parts, not of Azure: they show where the time goes
in our own code and catch regressions, nothing more. Targets are checked here,
never in the tests.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable

import requests

from devstack.stack import LocalStack, Ports

TIMEOUT = 30
# Targets for one request at a time on the local stack (2-core machine): a send
# stores the payload and makes one hub call, a read is one point read and one
# conditional update.
TARGET_P95_MS = {"register": 50.0, "send": 60.0, "read": 50.0, "list": 50.0}


def _measure(name: str, count: int, action: Callable[[int], None]) -> dict[str, float]:
    durations = []
    for index in range(count):
        started = time.perf_counter()
        action(index)
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    p95 = durations[max(0, int(len(durations) * 0.95) - 1)]
    return {
        "median": statistics.median(durations),
        "p95": p95,
        "max": durations[-1],
        "rate": count / (sum(durations) / 1000),
    }


def _check(response: requests.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"expected {status}, got {response.status_code}: {response.text}"
        )


def run_bench(count: int) -> int:
    """Run every measurement on a private stack and print a table."""
    with LocalStack(Ports(host=0), honour_settings=False) as stack:
        assert stack.issuer is not None
        api = f"{stack.base_url}/api"
        session = requests.Session()
        user = {"Authorization": f"Bearer {stack.issuer.mint_user('bench-user')}"}
        sender = {"Authorization": f"Bearer {stack.issuer.mint_sender('bench-sender')}"}
        ids: list[str] = []

        def register(index: int) -> None:
            body = {"platform": "apns", "pushChannel": secrets.token_hex(32)}
            url = f"{api}/devices/bench-{index % 5}"
            _check(session.put(url, json=body, headers=user, timeout=TIMEOUT), 200)

        def send(index: int) -> None:
            body = {
                "recipient": "bench-user",
                "payload": {"n": index, "text": "x" * 200},
            }
            response = session.post(
                f"{api}/notifications", json=body, headers=sender, timeout=TIMEOUT
            )
            _check(response, 201)
            ids.append(response.json()["id"])

        def read(index: int) -> None:
            url = f"{api}/notifications/{ids[index % len(ids)]}"
            _check(session.get(url, headers=user, timeout=TIMEOUT), 200)

        def list_page(index: int) -> None:
            url = f"{api}/notifications?pageSize=20"
            _check(session.get(url, headers=user, timeout=TIMEOUT), 200)

        results = {
            "register": _measure("register", count, register),
            "send": _measure("send", count, send),
            "read": _measure("read", count, read),
            "list": _measure("list", count, list_page),
        }
    _print(results, count)
    return 0


def _print(results: dict[str, dict[str, float]], count: int) -> None:
    print(f"\n{count} sequential requests per operation, local stack on 127.0.0.1\n")
    print(
        f"{'operation':<10}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'req/s':>8}"
        "  target"
    )
    for name, figures in results.items():
        target = TARGET_P95_MS[name]
        verdict = "met" if figures["p95"] <= target else "MISSED"
        print(
            f"{name:<10}{figures['median']:>11.1f}{figures['p95']:>9.1f}"
            f"{figures['max']:>9.1f}{figures['rate']:>8.1f}"
            f"  p95 <= {target:.0f} ms {verdict}"
        )
