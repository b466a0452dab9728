"""Realistic, random push channels for each platform, for the demo and the tests.

They have the shapes the push services hand out, so they pass the backend's
checks, but they address nothing: the hub stand-in only records them.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def apns_token() -> str:
    """Return a 32-byte APNs device token as hex text."""
    return secrets.token_hex(32)


def fcm_token() -> str:
    """Return a token shaped like an FCM registration token (id, colon, APA91b...)."""
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(105)}"


def wns_channel() -> str:
    """Return a WNS channel URI on the WNS notify host."""
    return (
        f"https://wns2-par02p.notify.windows.com/w/?token={secrets.token_urlsafe(96)}"
    )


def web_push_subscription() -> dict[str, str]:
    """Return a Web Push subscription with a real P-256 public key and auth secret."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    return {
        "endpoint": f"https://fcm.googleapis.com/fcm/send/{secrets.token_urlsafe(120)}",
        "p256dh": _base64url(point),
        "auth": _base64url(secrets.token_bytes(16)),
    }


def device_body(platform: str, **extra: object) -> dict[str, object]:
    """Return a RegisterDevice body with a fresh channel for `platform`."""
    channels = {
        "apns": apns_token,
        "fcmv1": fcm_token,
        "wns": wns_channel,
        "browser": web_push_subscription,
    }
    return {"platform": platform, "pushChannel": channels[platform](), **extra}
