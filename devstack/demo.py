"""The main job, played through the function URLs on the local stack.

Two users register devices on every platform, and a backend sends one of them
a secret. The output shows what each device received from the hub: the id and
the generic text only. It then shows the recipient fetching the payload, the
other user getting the same 404 as for an id that never existed, and the read
state. Every step checks its result. The first unexpected result stops the demo
with exit 1, and the stack is stopped in every case.
"""

from __future__ import annotations

import json
import secrets
import sys
from typing import Any

import requests

from devstack.channels import device_body
from devstack.stack import LocalStack, Ports

SECRET = {
    "kind": "transfer-approval",
    "text": "Approve the transfer of EUR 4,250.00 to IBAN DE89 3704 0044 0532 0130 00?",
    "code": "731 904",
}
TIMEOUT = 30


class DemoError(Exception):
    """A step did not give the result the scenario expects."""


DEVICES = [
    ("alice", "alice-iphone", device_body("apns")),
    ("alice", "alice-pixel", device_body("fcmv1")),
    ("alice", "alice-surface", device_body("wns")),
    ("alice", "alice-browser", device_body("browser")),
    ("bob", "bob-iphone", device_body("apns", silent=True)),
    ("bob", "bob-browser", device_body("browser")),
]


class Demo:
    """The scenario's steps against one running stack."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.issuer is not None and stack.hub is not None
        self.stack = stack
        self.api = f"{stack.base_url}/api"
        self.tokens = {
            "alice": stack.issuer.mint_user("alice@contoso.example"),
            "bob": stack.issuer.mint_user("bob@contoso.example"),
            "backend": stack.issuer.mint_sender("payments-backend"),
        }
        self.session = requests.Session()

    def call(
        self, who: str, method: str, path: str, **kwargs: Any
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self.tokens[who]}",
            **kwargs.pop("headers", {}),
        }
        return self.session.request(
            method, f"{self.api}{path}", headers=headers, timeout=TIMEOUT, **kwargs
        )

    def expect(self, response: requests.Response, status: int, what: str) -> Any:
        if response.status_code != status:
            raise DemoError(
                f"{what}: expected {status}, got {response.status_code}: "
                f"{response.text}"
            )
        return response.json() if response.content else None

    def register_devices(self) -> None:
        step(
            "1. Alice and Bob register their devices "
            "(the server picks tags and templates)"
        )
        for user, installation_id, body in DEVICES:
            response = self.call(user, "PUT", f"/devices/{installation_id}", json=body)
            view = self.expect(response, 200, f"register {installation_id}")
            mode = " (silent background pushes)" if view["silent"] else ""
            say(
                f"PUT /api/devices/{installation_id:<14} {view['platform']:<8} "
                f"-> 200{mode}"
            )
        response = self.call("bob", "PUT", "/devices/alice-iphone", json=DEVICES[0][2])
        error = self.expect(response, 403, "Bob taking over Alice's installation")
        say(
            "Bob tries PUT /api/devices/alice-iphone -> 403 "
            f"{error['error']['message']}"
        )

    def send_secret(self) -> str:
        step("2. The payments backend sends Alice a secret")
        body = {"recipient": "alice@contoso.example", "payload": SECRET}
        response = self.call(
            "backend",
            "POST",
            "/notifications",
            json=body,
            headers={"Idempotency-Key": "transfer-8841-approval"},
        )
        sent = self.expect(response, 201, "send")
        say(f"POST /api/notifications -> 201 id={sent['id']}")
        say(
            f"push: {sent['push']['status']}, "
            f"hub tracking id {sent['push']['trackingId']}"
        )
        again = self.call(
            "backend",
            "POST",
            "/notifications",
            json=body,
            headers={"Idempotency-Key": "transfer-8841-approval"},
        )
        if self.expect(again, 201, "repeat send")["id"] != sent["id"]:
            raise DemoError(
                "a repeat with the same Idempotency-Key made a new notification"
            )
        say(
            "The same request again (same Idempotency-Key) -> 201, same id, "
            "nothing pushed"
        )
        return str(sent["id"])

    def show_deliveries(self, notification_id: str) -> None:
        step("3. What each device received from the hub")
        assert self.stack.hub is not None
        secret_text = json.dumps(SECRET)
        for _user, installation_id, _body in DEVICES:
            received = self.stack.hub.deliveries(installation_id)
            if not received:
                say(f"{installation_id:<14} nothing (not the recipient)")
                continue
            if len(received) != 1:
                raise DemoError(
                    f"{installation_id} received {len(received)} pushes, not 1"
                )
            delivery = received[0]
            headers = ", ".join(
                f"{k}: {v}" for k, v in sorted(delivery.headers.items())
            )
            say(f"{installation_id:<14} {delivery.platform:<8} {headers}")
            say(f"{'':<14} {delivery.body}")
            leaked = [part for part in SECRET.values() if part in delivery.body]
            if (
                leaked
                or secret_text in delivery.body
                or notification_id not in delivery.body
            ):
                raise DemoError(
                    f"{installation_id} received more than the id and the alert"
                )
        say("None of the pushes contains the secret; each carries only the id.")

    def fetch(self, notification_id: str) -> None:
        step("4. Alice's phone fetches the payload with her own token")
        got = self.expect(
            self.call("alice", "GET", f"/notifications/{notification_id}"), 200, "fetch"
        )
        if got["payload"] != SECRET:
            raise DemoError("the fetched payload differs from the one sent")
        say(f"GET /api/notifications/{notification_id} -> 200")
        say(f"payload: {json.dumps(got['payload'], ensure_ascii=False)}")
        say(f"readAt: {got['readAt']}")

    def others_get_404(self, notification_id: str) -> None:
        step("5. Bob asks for the same id, and for an id that never existed")
        bob = self.call("bob", "GET", f"/notifications/{notification_id}")
        made_up = self.call("bob", "GET", f"/notifications/{secrets.token_hex(16)}")
        self.expect(bob, 404, "Bob reading Alice's notification")
        self.expect(made_up, 404, "Bob reading a made-up id")
        say(f"Bob, Alice's id  -> 404 {bob.text}")
        say(f"Bob, made-up id  -> 404 {made_up.text}")
        if bob.content != made_up.content:
            raise DemoError("the two 404 bodies differ")
        say("The two answers are identical byte for byte.")

    def read_state(self, notification_id: str) -> None:
        step("6. Alice's list shows what she has read")
        page = self.expect(self.call("alice", "GET", "/notifications"), 200, "list")
        for item in page["items"]:
            state = f"read at {item['readAt']}" if item["readAt"] else "unread"
            say(f"{item['id']}  {item['alert']!r}  {state}")
        unread = self.expect(
            self.call("alice", "GET", "/notifications?unread=true"), 200, "unread"
        )
        if any(item["id"] == notification_id for item in unread["items"]):
            raise DemoError("the read notification is still listed as unread")
        say(f"GET /api/notifications?unread=true -> {len(unread['items'])} unread")

    def read_once(self) -> None:
        step("7. A read-once secret for Bob: the first read consumes it")
        body = {
            "recipient": "bob@contoso.example",
            "payload": {"otp": "048213"},
            "readOnce": True,
        }
        sent = self.expect(
            self.call("backend", "POST", "/notifications", json=body), 201, "send"
        )
        first = self.call("bob", "GET", f"/notifications/{sent['id']}")
        second = self.call("bob", "GET", f"/notifications/{sent['id']}")
        self.expect(first, 200, "first read-once read")
        self.expect(second, 404, "second read-once read")
        say(f"first GET -> 200 payload {first.json()['payload']}; second GET -> 404")


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def say(line: str) -> None:
    print(f"   {line}", flush=True)


def run_demo() -> int:
    """Start a private stack on free ports, play the scenario, stop everything."""
    print(
        "Starting Azurite, the hub stand-in, the local issuer and the functions host..."
    )
    try:
        with LocalStack(Ports(host=0), honour_settings=False) as stack:
            print(f"Function URLs under {stack.base_url}/api")
            demo = Demo(stack)
            demo.register_devices()
            notification_id = demo.send_secret()
            demo.show_deliveries(notification_id)
            demo.fetch(notification_id)
            demo.others_get_404(notification_id)
            demo.read_state(notification_id)
            demo.read_once()
    except DemoError as exc:
        print(f"\nDemo failed: {exc}", file=sys.stderr)
        return 1
    print(
        "\nStopped everything the demo started. The secure-push flow works end to end."
    )
    return 0
