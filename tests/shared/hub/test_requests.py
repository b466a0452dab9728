"""What the client puts on the wire and how it reads replies, over loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Callable

import pytest

from shared.errors import (
    ConfigurationError,
    HubPermanentError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from shared.hub import NotificationHubClient, SendResult
from tests.shared.hub.conftest import KEY, KEY_NAME, FakeTime
from tests.shared.hub.scripted import Reply, ScriptedServer

ClientFactory = Callable[..., NotificationHubClient]

OUTCOME_NAMESPACE = (
    "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
)
HANDLE = "a3f1c2d4e5b6978812345678abcdef0011223344556677889900aabbccddeeff"


def created(notification_id: str = "n-1") -> Reply:
    return Reply(
        status=201,
        headers={
            "Location": (
                f"https://ns.servicebus.windows.net/securepush/messages/"
                f"{notification_id}?api-version=2020-06"
            ),
            "TrackingId": "track-1",
            "x-ms-correlation-request-id": "corr-1",
        },
    )


def signature_is_valid(authorization: str, expected_resource: str, now: float) -> bool:
    fields = dict(
        part.split("=", 1) for part in authorization.split(" ", 1)[1].split("&")
    )
    message = f"{fields['sr']}\n{fields['se']}".encode()
    digest = hmac.new(KEY.encode(), message, hashlib.sha256).digest()
    return (
        urllib.parse.unquote(fields["sr"]) == expected_resource
        and urllib.parse.unquote(fields["sig"]) == base64.b64encode(digest).decode()
        and fields["skn"] == KEY_NAME
        and int(fields["se"]) > now
    )


class TestCommonHeaders:
    def test_version_and_signed_authorization(
        self, make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
    ) -> None:
        scripted.queue(Reply(status=204))

        make_client().delete_installation("device-1")

        request = scripted.requests[0]
        assert request.query["api-version"] == ["2020-06"]
        assert request.headers["x-ms-version"] == "2020-06"
        resource = f"http://127.0.0.1:{scripted.port}/securepush"
        assert signature_is_valid(
            request.headers["Authorization"], resource, fake_time.now
        )

    def test_installation_id_percent_encoded(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        scripted.queue(Reply(status=204))

        make_client().delete_installation("a/b c?d#e")

        assert (
            scripted.requests[0].path == "/securepush/installations/a%2Fb%20c%3Fd%23e"
        )

    def test_token_reused_across_requests(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        client = make_client()

        client.delete_installation("one")
        client.delete_installation("two")

        first, second = (r.headers["Authorization"] for r in scripted.requests)
        assert first == second

    def test_hub_name_rejected(self, make_client: ClientFactory) -> None:
        with pytest.raises(ConfigurationError, match="NOTIFICATION_HUB_NAME"):
            make_client(hub_name="hub/../other")

    def test_connection_string_without_key_rejected(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        with pytest.raises(ConfigurationError, match="SharedAccessKey is missing"):
            make_client(connection_string=f"Endpoint={scripted.base_url}")


class TestInstallations:
    def test_put_sends_json(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        installation = {
            "installationId": "device-1",
            "platform": "apns",
            "pushChannel": "00ff",
            "tags": ["user:k1"],
        }

        make_client().create_or_update_installation(installation)

        request = scripted.requests[0]
        assert request.method == "PUT"
        assert request.path == "/securepush/installations/device-1"
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.body) == installation

    @pytest.mark.parametrize(
        ("installation", "field"),
        [
            pytest.param({"platform": "apns", "pushChannel": "x"}, "installationId"),
            pytest.param({"installationId": "d", "pushChannel": "x"}, "platform"),
            pytest.param({"installationId": "d", "platform": "apns"}, "pushChannel"),
            pytest.param(
                {
                    "installationId": "d",
                    "platform": "apns",
                    "pushChannel": "x",
                    "tags": ["bad tag"],
                },
                "tags",
                id="bad-tag",
            ),
        ],
    )
    def test_put_validates_before_request(
        self,
        make_client: ClientFactory,
        scripted: ScriptedServer,
        installation: dict[str, object],
        field: str,
    ) -> None:
        with pytest.raises(InvalidRequestError) as caught:
            make_client().create_or_update_installation(installation)

        assert caught.value.field == field
        assert scripted.requests == []

    def test_patch_uses_json_patch(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        operations = [{"op": "add", "path": "/tags", "value": "user:k2"}]

        make_client().patch_installation("device-1", operations)

        request = scripted.requests[0]
        assert request.method == "PATCH"
        assert request.headers["Content-Type"] == "application/json-patch+json"
        assert json.loads(request.body) == operations

    @pytest.mark.parametrize(
        "operations",
        [
            pytest.param([], id="empty"),
            pytest.param([{"op": "move", "path": "/tags"}], id="unknown-op"),
            pytest.param([{"op": "add", "path": "tags", "value": "t"}], id="bad-path"),
            pytest.param(
                [{"op": "add", "path": "/tags", "value": "bad tag"}], id="bad-tag"
            ),
            pytest.param(
                [{"op": "remove", "path": "/tags/bad%20tag"}], id="bad-removed"
            ),
        ],
    )
    def test_patch_validates_before_request(
        self,
        make_client: ClientFactory,
        scripted: ScriptedServer,
        operations: list[dict[str, str]],
    ) -> None:
        with pytest.raises(InvalidRequestError):
            make_client().patch_installation("device-1", operations)

        assert scripted.requests == []

    def test_get_parses_json_labelled_xml(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        stored = {"installationId": "device-1", "platform": "apns", "tags": ["t"]}
        scripted.queue(
            Reply(
                status=200,
                headers={"Content-Type": "application/xml; charset=utf-8"},
                body=json.dumps(stored).encode(),
            )
        )

        assert make_client().get_installation("device-1") == stored

    def test_get_missing_raises_not_found(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        scripted.queue(
            Reply(
                status=404,
                body=b"<Error><Code>404</Code><Detail>Installation not found."
                b"TrackingId:abc_G3,TimeStamp:11/7/2018 12:18:37 AM</Detail></Error>",
            )
        )

        with pytest.raises(NotFoundError, match="device-1"):
            make_client().get_installation("device-1")

        assert len(scripted.requests) == 1

    def test_get_non_json_body_rejected(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        scripted.queue(Reply(status=200, body=b"<html>proxy</html>"))

        with pytest.raises(HubPermanentError, match="not a JSON object"):
            make_client().get_installation("device-1")

    def test_delete_missing_is_success(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        scripted.queue(Reply(status=404))

        make_client().delete_installation("gone")

        assert scripted.requests[0].method == "DELETE"

    def test_empty_installation_id_rejected(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        with pytest.raises(InvalidRequestError, match="installation id is missing"):
            make_client().get_installation("  ")

        assert scripted.requests == []


class TestSends:
    def test_template_send(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        scripted.queue(created("cec4b172-20181107-12"))

        result = make_client().send_template({"secureId": "n1"}, "user:k1")

        request = scripted.requests[0]
        assert request.method == "POST"
        assert request.path == "/securepush/messages/"
        assert request.headers["ServiceBusNotification-Format"] == "template"
        assert request.headers["ServiceBusNotification-Tags"] == "user:k1"
        assert request.headers["Content-Type"] == "application/json;charset=utf-8"
        assert json.loads(request.body) == {"secureId": "n1"}
        assert "test" not in request.query
        assert result == SendResult(
            notification_id="cec4b172-20181107-12",
            tracking_id="track-1",
            correlation_id="corr-1",
            attempts=1,
            outcome=None,
        )

    def test_missing_location_gives_no_id(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        scripted.queue(Reply(status=201))

        result = make_client().send_template({"secureId": "n1"}, "user:k1")

        assert result.notification_id is None
        assert result.tracking_id is None

    @pytest.mark.parametrize(
        ("platform_format", "headers", "body", "content_type"),
        [
            pytest.param(
                "Apple",
                {
                    "apns-push-type": "background",
                    "apns-priority": "5",
                    "apns-expiration": "0",
                    "apns-collapse-id": "c1",
                },
                '{"aps":{"content-available":1}}',
                "application/json;charset=utf-8",
                id="apple",
            ),
            pytest.param(
                "FCMV1",
                {},
                '{"message":{"data":{"secureId":"n1"}}}',
                "application/json;charset=utf-8",
                id="fcmv1",
            ),
            pytest.param(
                "gcm",
                {},
                '{"data":{"secureId":"n1"}}',
                "application/json;charset=utf-8",
                id="gcm",
            ),
            pytest.param(
                "browser",
                {},
                '{"secureId":"n1"}',
                "application/json;charset=utf-8",
                id="browser",
            ),
            pytest.param(
                "windows",
                {"X-WNS-Type": "wns/toast"},
                "<toast/>",
                "application/xml",
                id="windows-toast",
            ),
            pytest.param(
                "windows",
                {"X-WNS-Type": "wns/tile"},
                "<tile/>",
                "application/xml",
                id="windows-tile",
            ),
            pytest.param(
                "windows",
                {"X-WNS-Type": "wns/badge"},
                "<badge value='1'/>",
                "application/xml",
                id="windows-badge",
            ),
            pytest.param(
                "windows",
                {"X-WNS-Type": "wns/raw"},
                b"n1\x00\xff",
                "application/octet-stream",
                id="windows-raw",
            ),
            pytest.param(
                "template",
                {"apns-push-type": "alert"},
                '{"secureId":"n1"}',
                "application/json;charset=utf-8",
                id="template",
            ),
        ],
    )
    def test_native_content_types(
        self,
        make_client: ClientFactory,
        scripted: ScriptedServer,
        platform_format: str,
        headers: dict[str, str],
        body: str | bytes,
        content_type: str,
    ) -> None:
        scripted.queue(created())

        make_client().send_native(platform_format, body, "user:k1", headers=headers)

        request = scripted.requests[0]
        assert request.headers["Content-Type"] == content_type
        assert request.headers["ServiceBusNotification-Format"] == (
            platform_format.lower()
        )
        expected_body = body.encode() if isinstance(body, str) else body
        assert request.body == expected_body
        for name, value in headers.items():
            assert request.headers[name] == value

    @pytest.mark.parametrize(
        ("platform_format", "headers", "body", "expected"),
        [
            pytest.param("mpns", {}, "{}", "not supported", id="unknown-format"),
            pytest.param("windows", {}, "<toast/>", "X-WNS-Type", id="wns-no-type"),
            pytest.param(
                "windows",
                {"X-WNS-Type": "wns/other"},
                "<a/>",
                "X-WNS-Type",
                id="wns-bad-type",
            ),
            pytest.param(
                "apple",
                {"Authorization": "x"},
                "{}",
                "cannot be sent",
                id="authorization-header",
            ),
            pytest.param(
                "fcmv1",
                {"apns-priority": "10"},
                "{}",
                "cannot be sent",
                id="apns-header-on-fcm",
            ),
            pytest.param(
                "apple",
                {"apns-priority": "7"},
                "{}",
                "invalid value",
                id="bad-apns-priority",
            ),
            pytest.param(
                "apple",
                {"apns-push-type": "alert\r\nX: y"},
                "{}",
                "invalid value",
                id="header-injection",
            ),
            pytest.param("apple", {}, "not json", "JSON object", id="apple-not-json"),
            pytest.param("apple", {}, "", "empty", id="empty-body"),
            pytest.param(
                "template",
                {},
                '{"a":{"b":"c"}}',
                "string value",
                id="template-not-flat",
            ),
            pytest.param(
                "template", {}, '{"a":1}', "string value", id="template-number"
            ),
            pytest.param("template", {}, "[]", "JSON object", id="template-array"),
        ],
    )
    def test_native_rejected_before_request(
        self,
        make_client: ClientFactory,
        scripted: ScriptedServer,
        platform_format: str,
        headers: dict[str, str],
        body: str,
        expected: str,
    ) -> None:
        with pytest.raises(InvalidRequestError, match=expected):
            make_client().send_native(platform_format, body, "user:k1", headers=headers)

        assert scripted.requests == []

    def test_oversized_body_rejected(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        body = '{"data":"' + "x" * 70_000 + '"}'

        with pytest.raises(PayloadTooLargeError, match="at most 65536"):
            make_client().send_native("gcm", body, "user:k1")

        assert scripted.requests == []

    @pytest.mark.parametrize(
        "properties",
        [
            pytest.param({}, id="empty"),
            pytest.param({"secureId": 5}, id="number-value"),
            pytest.param({"nested": {"a": "b"}}, id="nested-value"),
        ],
    )
    def test_template_properties_validated(
        self,
        make_client: ClientFactory,
        scripted: ScriptedServer,
        properties: dict[str, object],
    ) -> None:
        with pytest.raises(InvalidRequestError):
            make_client().send_template(properties, "user:k1")  # type: ignore[arg-type]

        assert scripted.requests == []

    def test_test_send_parses_outcome(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        body = (
            f'<NotificationOutcome xmlns="{OUTCOME_NAMESPACE}" '
            'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
            "<Success>1</Success><Failure>1</Failure><Results>"
            "<RegistrationResult><ApplicationPlatform>apple</ApplicationPlatform>"
            f"<PnsHandle>{HANDLE}</PnsHandle><RegistrationId>r-1</RegistrationId>"
            "<Outcome>The Notification was successfully sent to the Push "
            "Notification System</Outcome></RegistrationResult>"
            "<RegistrationResult><ApplicationPlatform>fcmv1</ApplicationPlatform>"
            "<PnsHandle>bad</PnsHandle><RegistrationId>r-2</RegistrationId>"
            "<Outcome>The Push Notification System handle for the registration is "
            "invalid</Outcome></RegistrationResult></Results></NotificationOutcome>"
        ).encode()
        scripted.queue(Reply(status=201, headers=created().headers, body=body))

        result = make_client().send_template({"secureId": "n1"}, "user:k1", test=True)

        assert scripted.requests[0].query["test"] == ["true"]
        outcome = result.outcome
        assert outcome is not None
        assert outcome.success == 1
        assert outcome.failure == 1
        first, second = outcome.results
        assert first.platform == "apple"
        assert first.registration_id == "r-1"
        assert first.outcome.startswith("The Notification was successfully sent")
        assert first.pns_handle_hash == hashlib.sha256(HANDLE.encode()).hexdigest()[:12]
        assert HANDLE not in repr(result)
        assert second.outcome.endswith("is invalid")

    def test_test_send_empty_results(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        body = (
            f'<NotificationOutcome xmlns="{OUTCOME_NAMESPACE}"><Success>0</Success>'
            "<Failure>0</Failure><Results /></NotificationOutcome>"
        ).encode()
        scripted.queue(Reply(status=201, body=body))

        result = make_client().send_native("gcm", "{}", "user:k1", test=True)

        assert result.outcome is not None
        assert result.outcome.results == ()
        assert result.outcome.success == 0

    def test_test_send_with_doctype_not_parsed(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        body = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b"<NotificationOutcome><Success>&a;</Success></NotificationOutcome>"
        )
        scripted.queue(Reply(status=201, body=body))

        result = make_client().send_native("gcm", "{}", "user:k1", test=True)

        assert result.outcome is None


class TestLogging:
    def test_no_secrets_in_log_lines(
        self,
        make_client: ClientFactory,
        scripted: ScriptedServer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        scripted.queue(Reply(status=503, headers={"Retry-After": "1"}), created())
        caplog.set_level(logging.DEBUG, logger="shared.hub")

        make_client().send_native(
            "apple", '{"aps":{"alert":"secret-payload"}}', "user:k1"
        )

        authorization = scripted.requests[0].headers["Authorization"]
        signature = authorization.split("sig=", 1)[1].split("&", 1)[0]
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert "POST /messages/" in text
        assert "attempt 1 of 4" in text
        assert "attempt 2 of 4" in text
        assert "Retrying" in text
        for secret in (KEY, signature, "secret-payload", "api-version", "sig="):
            assert secret not in text
