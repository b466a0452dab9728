"""The one Notification Hubs template each installation gets, per platform.

A send is a single template send with two properties, `secureId` (the
notification id) and `alert` (generic, non-secret text). The hub expands the
installation's template with them, so the push services see nothing else.
Template expressions such as `$(secureId)` are only expanded inside JSON string
values, which is why every body here, the WNS raw one included, is JSON.
"""

from __future__ import annotations

import json
from typing import Any

TEMPLATE_NAME = "securePush"
ID_PROPERTY = "secureId"
ALERT_PROPERTY = "alert"

# The alert text is clipped by the hub: APNs and FCM reject payloads over 4 KB.
MAX_ALERT_LENGTH = 256


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def apns_alert_template() -> dict[str, Any]:
    """Build a visible alert that a Notification Service Extension replaces.

    `mutable-content: 1` lets the extension fetch the payload and rewrite the
    text before iOS shows it; if the fetch fails, the generic alert is shown.
    """
    body = {
        "aps": {
            "alert": {"body": f"$({ALERT_PROPERTY})"},
            "mutable-content": 1,
            "sound": "default",
        },
        ID_PROPERTY: f"$({ID_PROPERTY})",
    }
    headers = {"apns-push-type": "alert", "apns-priority": "10"}
    return {"body": _json(body), "headers": headers}


def apns_background_template() -> dict[str, Any]:
    """Build a silent background push; iOS throttles these to a few an hour."""
    body = {"aps": {"content-available": 1}, ID_PROPERTY: f"$({ID_PROPERTY})"}
    headers = {"apns-push-type": "background", "apns-priority": "5"}
    return {"body": _json(body), "headers": headers}


def fcm_v1_template() -> dict[str, Any]:
    """Build a high-priority FCM v1 data message; the app decides what to show."""
    body = {
        "message": {
            "data": {
                ID_PROPERTY: f"$({ID_PROPERTY})",
                ALERT_PROPERTY: f"$({ALERT_PROPERTY})",
            },
            "android": {"priority": "high"},
        }
    }
    return {"body": _json(body)}


def wns_raw_template() -> dict[str, Any]:
    """Build a WNS raw notification, delivered to the app's background task."""
    body = {ID_PROPERTY: f"$({ID_PROPERTY})"}
    return {"body": _json(body), "headers": {"X-WNS-Type": "wns/raw"}}


def web_push_template() -> dict[str, Any]:
    """Build the small JSON that the service worker's push event receives."""
    body = {ID_PROPERTY: f"$({ID_PROPERTY})", ALERT_PROPERTY: f"$({ALERT_PROPERTY})"}
    return {"body": _json(body)}


def template_for(platform: str, *, silent: bool = False) -> dict[str, Any]:
    """Return the installation template for a platform from `shared.platforms`."""
    if platform == "apns":
        return apns_background_template() if silent else apns_alert_template()
    builders = {
        "fcmv1": fcm_v1_template,
        "wns": wns_raw_template,
        "browser": web_push_template,
    }
    return builders[platform]()


def template_properties(notification_id: str, alert: str) -> dict[str, str]:
    """Return the properties of the template send for one notification."""
    return {ID_PROPERTY: notification_id, ALERT_PROPERTY: alert}
