"""Sends: header and body checks, target matching and the deliveries they record."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from devstack.hubstandin import installations as installation_rules
from devstack.hubstandin import tags, templates
from devstack.hubstandin.errors import HubError, bad_request
from devstack.hubstandin.state import Delivery, HeaderDict

FORMAT_PLATFORMS = {
    "apple": "apns",
    "windows": "wns",
    "fcmv1": "fcmv1",
    "gcm": "gcm",
    "browser": "browser",
    "adm": "adm",
    "baidu": "baidu",
    "xiaomi": "xiaomi",
}
PLATFORM_FORMATS = {platform: name for name, platform in FORMAT_PLATFORMS.items()}
TEMPLATE_FORMAT = "template"
# Request bodies above 64 KB are rejected with 413 by every send endpoint.
MAX_REQUEST_BYTES = 64 * 1024
# Per-device payload limits: APNs and FCM 4 KB, WNS 5 KB; other platforms unchecked.
PAYLOAD_LIMITS = {"apns": 4096, "fcmv1": 4096, "gcm": 4096, "wns": 5120}
FORWARDED_PREFIXES = {"apns": "apns-", "wns": "x-wns-"}
MAX_TEST_RESULTS = 10
OUTCOME_NAMESPACE = (
    "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
)
SUCCESS_OUTCOME = (
    "The Notification was successfully sent to the Push Notification System"
)
_sequence = itertools.count(1)


@dataclass
class SendRequest:
    """A checked send: its format, request headers, body text and tag expression."""

    format: str
    headers: HeaderDict
    body: str
    tag_expression: str | None
    notification_id: str


def new_notification_id() -> str:
    """Return an id shaped like the service's: hex, UTC timestamp, sequence."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"{uuid.uuid4().hex}-{stamp}-{next(_sequence)}"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def wns_type(headers: Mapping[str, str]) -> str:
    return HeaderDict(headers).get("X-WNS-Type", "").lower()


def parse_format(headers: HeaderDict) -> str:
    value = headers.get("ServiceBusNotification-Format")
    if not value:
        raise bad_request("The ServiceBusNotification-Format header is missing.")
    # NOTE: case-insensitive format matching is inferred, not confirmed.
    name = value.strip().lower()
    if name not in FORMAT_PLATFORMS and name != TEMPLATE_FORMAT:
        known = ", ".join([*FORMAT_PLATFORMS, TEMPLATE_FORMAT])
        raise bad_request(
            f"ServiceBusNotification-Format {value!r} is invalid; use one of {known}."
        )
    return name


def expected_media_types(format_name: str, headers: HeaderDict) -> tuple[str, ...]:
    if format_name == "windows" and wns_type(headers) == "wns/raw":
        return ("application/octet-stream",)
    if format_name == "windows":
        return ("application/xml", "application/json")
    if format_name == "baidu":
        return ("application/json", "application/x-www-form-urlencoded")
    return ("application/json",)


def check_content_type(format_name: str, headers: HeaderDict) -> None:
    if format_name == "windows" and not wns_type(headers):
        # NOTE: the stand-in requires X-WNS-Type because WNS itself does; the
        # service's own status for a missing header is unconfirmed.
        raise bad_request(
            "A windows send needs an X-WNS-Type header such as wns/toast."
        )
    allowed = expected_media_types(format_name, headers)
    if media_type(headers.get("Content-Type")) not in allowed:
        raise bad_request(
            f"Content-Type {headers.get('Content-Type')!r} is invalid for format "
            f"{format_name!r}; use {' or '.join(allowed)}."
        )


def decode_body(raw: bytes) -> str:
    if len(raw) > MAX_REQUEST_BYTES:
        raise HubError(
            413, f"The message size cannot be over {MAX_REQUEST_BYTES // 1024} Kb."
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The notification body is not valid UTF-8.") from None


def check_native_body(format_name: str, headers: HeaderDict, body: str) -> None:
    kind = native_kind(format_name, headers)
    if (
        format_name == "baidu"
        and media_type(headers.get("Content-Type")) != "application/json"
    ):
        return
    try:
        if kind == templates.JSON_KIND:
            json.loads(body)
        elif kind == templates.XML_KIND:
            templates.check_xml(body)
    except (json.JSONDecodeError, templates.TemplateError) as exc:
        raise bad_request(
            f"The {format_name} notification body is invalid: {exc}"
        ) from exc


def native_kind(format_name: str, headers: HeaderDict) -> str:
    if format_name != "windows":
        return templates.JSON_KIND
    return templates.TEXT_KIND if wns_type(headers) == "wns/raw" else templates.XML_KIND


def parse_template_properties(body: str) -> dict[str, str]:
    try:
        properties = json.loads(body)
    except json.JSONDecodeError:
        properties = None
    if not isinstance(properties, dict) or not all(
        isinstance(value, str) for value in properties.values()
    ):
        raise bad_request(
            "A template notification body must be a flat JSON object of string values."
        )
    return properties


def parse_tag_header(headers: HeaderDict) -> tuple[str | None, tags.Node | None]:
    expression = headers.get("ServiceBusNotification-Tags")
    if expression is None:
        return None, None
    try:
        return expression, tags.parse(expression)
    except tags.TagExpressionError as exc:
        # NOTE: the service's status for an invalid or over-limit expression is
        # unconfirmed; 400 is what its docs list for malformed routing headers.
        raise bad_request(f"ServiceBusNotification-Tags is invalid: {exc}") from exc


def forwarded_headers(headers: Mapping[str, str], platform: str) -> HeaderDict:
    prefix = FORWARDED_PREFIXES.get(platform)
    if prefix is None:
        return HeaderDict()
    return HeaderDict(
        {
            name: value
            for name, value in headers.items()
            if name.lower().startswith(prefix)
        }
    )


def matches(
    node: tags.Node | None, installation: dict[str, Any], extra: list[str]
) -> bool:
    if node is None:
        return True
    target = tags.target_tags(
        installation["installationId"],
        installation.get("userId"),
        [*installation.get("tags", []), *extra],
    )
    return tags.evaluate(node, target)


def native_deliveries(
    send: SendRequest, node: tags.Node | None, targets: list[dict[str, Any]]
) -> list[Delivery]:
    """Return one delivery per installation on the send's platform that matches."""
    platform = FORMAT_PLATFORMS[send.format]
    return [
        Delivery(
            installation_id=installation["installationId"],
            platform=platform,
            push_channel=installation["pushChannel"],
            headers=forwarded_headers(send.headers, platform),
            body=send.body,
            notification_id=send.notification_id,
            tag_expression=send.tag_expression,
        )
        for installation in targets
        if installation["platform"] == platform and matches(node, installation, [])
    ]


def template_headers(
    send: SendRequest, installation: dict[str, Any], template: dict[str, Any]
) -> HeaderDict:
    """Return the PNS headers: the send's pass-through headers, then the template's."""
    # NOTE: precedence between send-time and template headers is unconfirmed;
    # here the template's headers win.
    headers = forwarded_headers(send.headers, installation["platform"])
    for name, value in template.get("headers", {}).items():
        headers.replace(name, value)
    return headers


def render_template(
    send: SendRequest,
    properties: dict[str, str],
    installation: dict[str, Any],
    name: str,
) -> Delivery:
    template = installation["templates"][name]
    kind = installation_rules.template_kind(installation["platform"], template)
    return Delivery(
        installation_id=installation["installationId"],
        platform=installation["platform"],
        push_channel=installation["pushChannel"],
        headers=template_headers(send, installation, template),
        body=templates.render(template["body"], kind, properties),
        notification_id=send.notification_id,
        tag_expression=send.tag_expression,
        template_name=name,
    )


def template_deliveries(
    send: SendRequest, node: tags.Node | None, targets: list[dict[str, Any]]
) -> list[Delivery]:
    """Return one delivery per matching template of every installation.

    A template matches on the installation's tags, its own tags and its name.
    """
    properties = parse_template_properties(send.body)
    deliveries = []
    for installation in targets:
        for name, template in installation.get("templates", {}).items():
            if matches(node, installation, [*template.get("tags", []), name]):
                deliveries.append(render_template(send, properties, installation, name))
    return deliveries


def direct_delivery(send: SendRequest) -> Delivery:
    """Return the delivery of a direct send to the handle in its headers."""
    if send.format == TEMPLATE_FORMAT:
        raise bad_request("A direct send needs a native format, not template.")
    handle = send.headers.get("ServiceBusNotification-DeviceHandle")
    if not handle:
        raise bad_request(
            "A direct send needs a ServiceBusNotification-DeviceHandle header."
        )
    platform = FORMAT_PLATFORMS[send.format]
    channel: str | dict[str, str] = handle
    if platform == "browser":
        channel = {
            "endpoint": handle,
            "p256dh": send.headers.get("P256DH", ""),
            "auth": send.headers.get("Auth", ""),
        }
    return Delivery(
        installation_id=None,
        platform=platform,
        push_channel=channel,
        headers=forwarded_headers(send.headers, platform),
        body=send.body,
        notification_id=send.notification_id,
        tag_expression=None,
    )


def check_payload_sizes(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        limit = PAYLOAD_LIMITS.get(delivery.platform)
        size = len(delivery.body.encode("utf-8"))
        if limit is not None and size > limit:
            # NOTE: the service's status for an oversize per-device payload is
            # unconfirmed (its docs mention 400, 403 and 413).
            raise bad_request(
                f"The {delivery.platform} payload is {size} bytes, "
                f"over the limit of {limit}."
            )


def registration_result(delivery: Delivery) -> str:
    channel = delivery.push_channel
    handle = channel["endpoint"] if isinstance(channel, dict) else channel
    return (
        "<RegistrationResult>"
        f"<ApplicationPlatform>{PLATFORM_FORMATS[delivery.platform]}</ApplicationPlatform>"
        f"<PnsHandle>{xml_escape(handle)}</PnsHandle>"
        f"<RegistrationId>{xml_escape(delivery.installation_id or '')}</RegistrationId>"
        f"<Outcome>{SUCCESS_OUTCOME}</Outcome>"
        "</RegistrationResult>"
    )


def outcome_xml(deliveries: list[Delivery]) -> str:
    """Return the NotificationOutcome body of a test send (at most ten results)."""
    shown = deliveries[:MAX_TEST_RESULTS]
    results = "".join(registration_result(delivery) for delivery in shown)
    return (
        f'<NotificationOutcome xmlns="{OUTCOME_NAMESPACE}" '
        'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        f"<Success>{len(shown)}</Success><Failure>0</Failure>"
        f"<Results>{results}</Results></NotificationOutcome>"
    )
