"""Installations: validation of PUT bodies, JSON-Patch updates and the GET shape.

Stored installations are plain dicts in a normalised form: `platform` lowercased,
a browser `pushChannel` as an object, and unset optional fields absent.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from devstack.hubstandin import tags as tag_rules
from devstack.hubstandin import templates
from devstack.hubstandin.errors import bad_request

PLATFORMS = ("apns", "wns", "fcmv1", "gcm", "adm", "baidu", "browser", "xiaomi")
USER_ID_PATTERN = re.compile(r"[A-Za-z0-9\-_@#.:=]+")
BROWSER_CHANNEL_FIELDS = ("endpoint", "p256dh", "auth")
# NOTE: whether the service honours a client-sent expirationTime is unconfirmed;
# the stand-in always reports the documented default ("never").
DEFAULT_EXPIRATION = "9999-12-31T23:59:59.9999999Z"
TEMPLATE_FIELDS = ("body", "headers", "expiry", "tags")


def require_string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(f"{field} is missing or is not a non-empty string.")
    return value


def validate_platform(value: Any) -> str:
    platform = require_string(value, "platform").lower()
    if platform not in PLATFORMS:
        raise bad_request(
            f"platform {value!r} is not supported; use one of {', '.join(PLATFORMS)}."
        )
    return platform


def validate_browser_channel(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise bad_request(
                "pushChannel for platform browser must be an object or a JSON string "
                "with endpoint, p256dh and auth."
            ) from None
    if not isinstance(value, dict):
        raise bad_request("pushChannel for platform browser must be an object.")
    for field in BROWSER_CHANNEL_FIELDS:
        require_string(value.get(field), f"pushChannel.{field}")
    return {field: value[field] for field in BROWSER_CHANNEL_FIELDS}


def validate_push_channel(value: Any, platform: str) -> str | dict[str, str]:
    if platform == "browser":
        return validate_browser_channel(value)
    return require_string(value, "pushChannel")


def validate_tag_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise bad_request(f"{field} must be an array of strings.")
    for tag in value:
        if not tag_rules.is_valid_tag(tag):
            raise bad_request(
                f"{field} contains the invalid tag {tag[:40]!r}: a tag is 1 to "
                f"{tag_rules.MAX_TAG_LENGTH} characters of letters, digits and _@#.:-"
            )
    return list(dict.fromkeys(value))


def validate_user_id(value: Any) -> str:
    user_id = require_string(value, "userId")
    if USER_ID_PATTERN.fullmatch(user_id) is None:
        raise bad_request(
            "userId contains a character other than letters, digits and -_@#.:=."
        )
    return user_id


def validate_string_map(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise bad_request(f"{field} must be an object of string values.")
    return dict(value)


def template_kind(platform: str, template: dict[str, Any]) -> str:
    """Return how a template body is expanded: json, xml or (for wns/raw) text."""
    if platform != "wns":
        return templates.JSON_KIND
    headers = {
        name.lower(): value for name, value in template.get("headers", {}).items()
    }
    if headers.get("x-wns-type", "").lower() == "wns/raw":
        return templates.TEXT_KIND
    return templates.XML_KIND


def validate_template(name: str, value: Any, platform: str) -> dict[str, Any]:
    field = f"templates.{name}"
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be an object with a string body.")
    template: dict[str, Any] = {
        "body": require_string(value.get("body"), f"{field}.body")
    }
    if value.get("headers") is not None:
        template["headers"] = validate_string_map(value["headers"], f"{field}.headers")
    if value.get("expiry") is not None:
        template["expiry"] = require_string(value["expiry"], f"{field}.expiry")
    if value.get("tags") is not None:
        template["tags"] = validate_tag_list(value["tags"], f"{field}.tags")
    check_template_body(field, template, platform)
    return template


def check_template_body(field: str, template: dict[str, Any], platform: str) -> None:
    kind = template_kind(platform, template)
    wns_type = {k.lower() for k in template.get("headers", {})} & {"x-wns-type"}
    if platform == "wns" and not wns_type:
        raise bad_request(f"{field}.headers must set X-WNS-Type for a wns template.")
    try:
        templates.check(template["body"], kind)
    except templates.TemplateError as exc:
        raise bad_request(f"{field}.body is invalid: {exc}") from exc


def validate_templates(value: Any, platform: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise bad_request("templates must be an object of named templates.")
    return {
        name: validate_template(name, template, platform)
        for name, template in value.items()
    }


def validate(document: Any, installation_id: str) -> dict[str, Any]:
    """Check an installation body for a PUT to `installation_id`; return it normalised.

    Raises HubError(400) naming the first invalid field. Read-only fields such as
    `lastUpdate` or `pushChannelExpired` are dropped.
    """
    if not isinstance(document, dict):
        raise bad_request("The installation must be a JSON object.")
    body_id = require_string(document.get("installationId"), "installationId")
    if body_id != installation_id:
        raise bad_request(
            f"installationId {body_id!r} in the body does not match "
            f"{installation_id!r} in the URL."
        )
    platform = validate_platform(document.get("platform"))
    installation: dict[str, Any] = {
        "installationId": body_id,
        "platform": platform,
        "pushChannel": validate_push_channel(document.get("pushChannel"), platform),
    }
    add_optional_fields(installation, document, platform)
    return installation


def add_optional_fields(
    installation: dict[str, Any], document: dict[str, Any], platform: str
) -> None:
    if document.get("userId") is not None:
        installation["userId"] = validate_user_id(document["userId"])
    if document.get("tags"):
        installation["tags"] = validate_tag_list(document["tags"], "tags")
    if document.get("pushVariables"):
        installation["pushVariables"] = validate_string_map(
            document["pushVariables"], "pushVariables"
        )
    if document.get("templates"):
        installation["templates"] = validate_templates(document["templates"], platform)


def template_view(name: str, template: dict[str, Any]) -> dict[str, Any]:
    view = {field: template[field] for field in TEMPLATE_FIELDS if field in template}
    view["tags"] = list(dict.fromkeys([*template.get("tags", []), name]))
    return view


def to_view(installation: dict[str, Any]) -> dict[str, Any]:
    """Return an installation shaped as the service's GET returns it."""
    # NOTE: the GET shape of a browser pushChannel is unconfirmed; the stand-in
    # returns the object the JavaScript SDK sends.
    view: dict[str, Any] = {"installationId": installation["installationId"]}
    if "userId" in installation:
        view["userId"] = installation["userId"]
    view["pushChannel"] = copy.deepcopy(installation["pushChannel"])
    view["pushChannelExpired"] = False
    view["platform"] = installation["platform"]
    view["expirationTime"] = DEFAULT_EXPIRATION
    for field in ("tags", "pushVariables"):
        if field in installation:
            view[field] = copy.deepcopy(installation[field])
    if "templates" in installation:
        view["templates"] = {
            name: template_view(name, template)
            for name, template in installation["templates"].items()
        }
    return view
