"""The client against the hub stand-in: signatures, installations, sends, faults."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.hubstandin import FULL_RULE, HubStandIn
from shared.errors import (
    HubPermanentError,
    HubTransientError,
    InvalidRequestError,
    NotFoundError,
)
from shared.hub import NotificationHubClient
from shared.settings import HubSettings
from tests.shared.hub.conftest import FakeTime

APNS_TOKEN = "7a3b" * 16
FCM_TOKEN = "fcm-registration-token-0123456789"
WNS_CHANNEL = "https://wns2-by3p.notify.windows.com/w/?token=AwYAAAB"

ClientFactory = Callable[..., NotificationHubClient]


@pytest.fixture
def connect(hub: HubStandIn, fake_time: FakeTime) -> Iterator[ClientFactory]:
    """Build clients of the stand-in, with keyword arguments as settings."""
    clients: list[NotificationHubClient] = []

    def build(**overrides: Any) -> NotificationHubClient:
        values: dict[str, Any] = {
            "connection_string": hub.connection_string(FULL_RULE),
            "hub_name": hub.hub_name,
            "retry_budget_seconds": 20.0,
            "max_attempts": 4,
            "connect_timeout_seconds": 2.0,
            "read_timeout_seconds": 5.0,
        }
        values.update(overrides)
        client = NotificationHubClient(
            HubSettings(**values), clock=fake_time.clock, sleep=fake_time.sleep
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def apns_installation(installation_id: str = "device-1") -> dict[str, Any]:
    return {
        "installationId": installation_id,
        "platform": "apns",
        "pushChannel": APNS_TOKEN,
        "tags": ["user:k1"],
        "templates": {
            "secure": {
                "body": json.dumps(
                    {
                        "aps": {"mutable-content": 1, "alert": "$(alert)"},
                        "secureId": "$(secureId)",
                    }
                ),
                "headers": {"apns-push-type": "alert"},
            }
        },
    }


def send(client: NotificationHubClient) -> Any:
    return client.send_template({"secureId": "n1", "alert": "New"}, "user:k1")


class TestInstallations:
    def test_lifecycle(self, connect: ClientFactory, hub: HubStandIn) -> None:
        client = connect()
        client.create_or_update_installation(apns_installation())

        stored = client.get_installation("device-1")
        assert stored["installationId"] == "device-1"
        assert stored["tags"] == ["user:k1"]
        assert stored == hub.installation("device-1")

        client.patch_installation(
            "device-1", [{"op": "add", "path": "/tags", "value": "group:a"}]
        )
        assert client.get_installation("device-1")["tags"] == ["user:k1", "group:a"]

        client.delete_installation("device-1")
        with pytest.raises(NotFoundError):
            client.get_installation("device-1")
        client.delete_installation("device-1")

        methods = [(method, status) for method, _, status in hub.requests]
        assert methods == [
            ("PUT", 200),
            ("GET", 200),
            ("PATCH", 200),
            ("GET", 200),
            ("DELETE", 204),
            ("GET", 404),
            ("DELETE", 204),
        ]

    def test_reserved_characters_in_id(
        self, connect: ClientFactory, hub: HubStandIn
    ) -> None:
        client = connect()
        client.create_or_update_installation(apns_installation("a b:c"))

        assert client.get_installation("a b:c")["installationId"] == "a b:c"


class TestSends:
    def test_template_send_delivered(
        self, connect: ClientFactory, hub: HubStandIn
    ) -> None:
        client = connect()
        client.create_or_update_installation(apns_installation())

        result = send(client)

        deliveries = hub.deliveries("device-1")
        assert len(deliveries) == 1
        delivery = deliveries[0]
        assert json.loads(delivery.body)["secureId"] == "n1"
        assert delivery.notification_id == result.notification_id
        assert delivery.tag_expression == "user:k1"
        assert result.attempts == 1
        assert result.tracking_id
        assert result.correlation_id

    def test_native_apple_headers_forwarded(
        self, connect: ClientFactory, hub: HubStandIn
    ) -> None:
        client = connect()
        client.create_or_update_installation(apns_installation())

        client.send_native(
            "apple",
            '{"aps":{"content-available":1},"secureId":"n2"}',
            "$InstallationId:{device-1}",
            headers={"apns-push-type": "background", "apns-priority": "5"},
        )

        delivery = hub.deliveries("device-1")[0]
        headers = {name.lower(): value for name, value in delivery.headers.items()}
        assert headers["apns-push-type"] == "background"
        assert headers["apns-priority"] == "5"
        assert json.loads(delivery.body)["secureId"] == "n2"

    def test_native_fcmv1_and_wns_raw(
        self, connect: ClientFactory, hub: HubStandIn
    ) -> None:
        client = connect()
        for installation_id, platform, channel in (
            ("android-1", "fcmv1", FCM_TOKEN),
            ("windows-1", "wns", WNS_CHANNEL),
        ):
            client.create_or_update_installation(
                {
                    "installationId": installation_id,
                    "platform": platform,
                    "pushChannel": channel,
                    "tags": ["user:k2"],
                }
            )

        client.send_native("FcmV1", '{"message":{"data":{"secureId":"n3"}}}', "user:k2")
        client.send_native(
            "windows", b"n3", "user:k2", headers={"X-WNS-Type": "wns/raw"}
        )

        android = hub.deliveries("android-1")
        windows = hub.deliveries("windows-1")
        assert len(android) == 1
        assert len(windows) == 1
        assert json.loads(android[0].body)["message"]["data"]["secureId"] == "n3"
        assert windows[0].body == "n3"

    def test_test_send_outcome(self, connect: ClientFactory, hub: HubStandIn) -> None:
        client = connect()
        client.create_or_update_installation(apns_installation())

        result = client.send_template(
            {"secureId": "n1", "alert": "New"}, "user:k1", test=True
        )

        outcome = result.outcome
        assert outcome is not None
        assert outcome.success == 1
        assert outcome.failure == 0
        assert len(outcome.results) == 1
        assert outcome.results[0].platform.lower() == "apple"
        expected_hash = hashlib.sha256(APNS_TOKEN.encode()).hexdigest()[:12]
        assert outcome.results[0].pns_handle_hash == expected_hash
        assert APNS_TOKEN not in repr(result)

    @pytest.mark.parametrize(
        "expression",
        [
            pytest.param("", id="empty"),
            pytest.param("   ", id="whitespace"),
            pytest.param(" || ".join(f"t{i}" for i in range(21)), id="21-ored"),
            pytest.param(" && ".join(f"t{i}" for i in range(7)), id="7-anded"),
            pytest.param("user:k1 || bad tag", id="bad-character"),
            pytest.param("x" * 121, id="121-char-tag"),
            pytest.param("(user:k1 || a", id="unbalanced"),
        ],
    )
    def test_bad_expression_sends_nothing(
        self, connect: ClientFactory, hub: HubStandIn, expression: str
    ) -> None:
        client = connect()

        with pytest.raises(InvalidRequestError):
            client.send_template({"secureId": "n1"}, expression)
        with pytest.raises(InvalidRequestError):
            client.send_native("gcm", "{}", expression)

        assert hub.requests == []


class TestFailures:
    def test_wrong_key_is_401(self, connect: ClientFactory, hub: HubStandIn) -> None:
        wrong = (
            f"Endpoint={hub.base_url};SharedAccessKeyName={FULL_RULE};"
            "SharedAccessKey=bm90LXRoZS1yaWdodC1rZXk="
        )
        client = connect(connection_string=wrong)

        with pytest.raises(HubPermanentError) as caught:
            send(client)

        assert caught.value.hub_status == 401
        assert "InvalidSignature" in caught.value.detail
        assert "TrackingId" not in caught.value.detail
        assert len(hub.requests) == 1

    def test_listen_rule_cannot_send(
        self, connect: ClientFactory, hub: HubStandIn
    ) -> None:
        client = connect(
            connection_string=hub.connection_string(
                "DefaultListenSharedAccessSignature"
            )
        )

        with pytest.raises(HubPermanentError) as caught:
            send(client)

        assert caught.value.hub_status == 403
        assert len(hub.requests) == 1

    def test_throttled_once_then_sent(
        self, connect: ClientFactory, hub: HubStandIn, fake_time: FakeTime
    ) -> None:
        client = connect()
        client.create_or_update_installation(apns_installation())
        hub.fail_next(status=429, retry_after=2, count=1, kind="send")

        result = send(client)

        assert result.attempts == 2
        assert fake_time.sleeps == [2.0]
        assert len(hub.deliveries("device-1")) == 1

    @pytest.mark.parametrize(
        ("status", "retry_after", "error_type", "retried"),
        [
            pytest.param(400, None, HubPermanentError, False, id="400"),
            pytest.param(401, None, HubPermanentError, False, id="401"),
            pytest.param(403, None, HubPermanentError, False, id="403"),
            pytest.param(403, 1, HubTransientError, True, id="403-retry-after"),
            pytest.param(404, None, HubPermanentError, False, id="404"),
            pytest.param(413, None, HubPermanentError, False, id="413"),
            pytest.param(429, None, HubTransientError, True, id="429"),
            pytest.param(429, 3, HubTransientError, True, id="429-retry-after"),
            pytest.param(500, None, HubTransientError, True, id="500"),
            pytest.param(502, None, HubTransientError, True, id="502"),
            pytest.param(503, None, HubTransientError, True, id="503"),
            pytest.param(504, None, HubTransientError, True, id="504"),
        ],
    )
    def test_status_table(
        self,
        connect: ClientFactory,
        hub: HubStandIn,
        fake_time: FakeTime,
        status: int,
        retry_after: int | None,
        error_type: type[Exception],
        retried: bool,
    ) -> None:
        client = connect(max_attempts=3)
        hub.fail_next(status=status, retry_after=retry_after, count=3, kind="send")

        with pytest.raises(error_type) as caught:
            send(client)

        assert type(caught.value) is error_type
        assert caught.value.hub_status == status  # type: ignore[attr-defined]
        assert len(hub.requests) == (3 if retried else 1)
        if retry_after is not None:
            assert fake_time.sleeps == [retry_after, retry_after]
        else:
            assert len(fake_time.sleeps) == (2 if retried else 0)

    def test_hub_down_until_budget(
        self, connect: ClientFactory, hub: HubStandIn, fake_time: FakeTime
    ) -> None:
        client = connect(max_attempts=10, retry_budget_seconds=5.0)
        hub.fail_next(status=503, retry_after=2, count=100)

        with pytest.raises(HubTransientError) as caught:
            send(client)

        assert caught.value.hub_status == 503
        assert fake_time.sleeps == [2.0, 2.0]
        assert len(hub.requests) == 3

    def test_read_timeout_is_transient(
        self, connect: ClientFactory, hub: HubStandIn
    ) -> None:
        client = connect(read_timeout_seconds=0.2, max_attempts=1)
        hub.delay_next(seconds=1.0, count=1)

        with pytest.raises(HubTransientError, match="timed out") as caught:
            send(client)

        assert caught.value.hub_status is None

    def test_slow_once_then_retried(
        self, connect: ClientFactory, hub: HubStandIn, fake_time: FakeTime
    ) -> None:
        client = connect(read_timeout_seconds=0.2)
        client.create_or_update_installation(apns_installation())
        hub.delay_next(seconds=1.0, count=1, kind="send")

        result = send(client)

        assert result.attempts == 2
        assert len(fake_time.sleeps) == 1
