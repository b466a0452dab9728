"""Connection string parsing and SAS tokens.

Expected tokens are computed here with hmac, hashlib, base64 and urllib.parse,
independently of the code under test, following the published recipe: HMAC-SHA256
keyed with the UTF-8 key text over `quote(lower(uri)) + "\\n" + expiry`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest

from shared.errors import ConfigurationError
from shared.hubauth import (
    TOKEN_LIFETIME_SECONDS,
    TOKEN_RENEW_MARGIN_SECONDS,
    SasTokenProvider,
    build_sas_token,
    parse_connection_string,
)

KEY = "Zm9vYmFyYmF6cXV4K2tleS90ZXh0PQ=="
KEY_TEXT = KEY.rstrip("=")


def reference_token(uri: str, key_name: str, key: str, expiry: int) -> str:
    resource = urllib.parse.quote(uri.lower(), safe="")
    message = f"{resource}\n{expiry}".encode()
    digest = hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()
    signature = urllib.parse.quote(base64.b64encode(digest).decode(), safe="")
    return (
        f"SharedAccessSignature sr={resource}&sig={signature}&se={expiry}"
        f"&skn={urllib.parse.quote(key_name, safe='')}"
    )


def token_fields(token: str) -> dict[str, str]:
    scheme, _, fields = token.partition(" ")
    assert scheme == "SharedAccessSignature"
    return dict(part.split("=", 1) for part in fields.split("&"))


class TestConnectionString:
    @pytest.mark.parametrize(
        ("text", "base_url"),
        [
            pytest.param(
                f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;"
                f"SharedAccessKey={KEY}",
                "https://ns.servicebus.windows.net",
                id="sb-becomes-https",
            ),
            pytest.param(
                f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;"
                f"SharedAccessKey={KEY};",
                "https://ns.servicebus.windows.net",
                id="trailing-semicolon",
            ),
            pytest.param(
                f"  Endpoint = https://ns.servicebus.windows.net/ ; ;"
                f" SharedAccessKeyName = r ;\n SharedAccessKey = {KEY} \n",
                "https://ns.servicebus.windows.net",
                id="whitespace-and-empty-parts",
            ),
            pytest.param(
                f"Endpoint=sb://ns.servicebus.windows.net/;EntityPath=x;"
                f"SharedAccessKeyName=r;SharedAccessKey={KEY};Extra=1",
                "https://ns.servicebus.windows.net",
                id="unknown-names-ignored",
            ),
            pytest.param(
                f"Endpoint=http://127.0.0.1:8123/;SharedAccessKeyName=r;"
                f"SharedAccessKey={KEY}",
                "http://127.0.0.1:8123",
                id="http-loopback-ipv4",
            ),
            pytest.param(
                f"Endpoint=http://[::1]:8123/;SharedAccessKeyName=r;SharedAccessKey={KEY}",
                "http://[::1]:8123",
                id="http-loopback-ipv6",
            ),
            pytest.param(
                f"Endpoint=http://localhost:8123;SharedAccessKeyName=r;"
                f"SharedAccessKey={KEY}",
                "http://localhost:8123",
                id="http-localhost",
            ),
        ],
    )
    def test_valid_strings(self, text: str, base_url: str) -> None:
        parsed = parse_connection_string(text)

        assert parsed.base_url == base_url
        assert parsed.key_name == "r"
        assert parsed.key == KEY

    def test_equals_inside_key_kept(self) -> None:
        text = "Endpoint=sb://ns/;SharedAccessKeyName=r;SharedAccessKey=a=b=="

        assert parse_connection_string(text).key == "a=b=="

    def test_key_hidden_from_repr(self) -> None:
        parsed = parse_connection_string(
            f"Endpoint=sb://ns/;SharedAccessKeyName=r;SharedAccessKey={KEY}"
        )

        assert KEY not in repr(parsed)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                f"SharedAccessKeyName=r;SharedAccessKey={KEY}",
                "Endpoint is missing",
                id="missing-endpoint",
            ),
            pytest.param(
                f"endpoint=sb://ns/;SharedAccessKeyName=r;SharedAccessKey={KEY}",
                "Endpoint is missing",
                id="names-case-sensitive",
            ),
            pytest.param(
                f"Endpoint=sb://ns/;SharedAccessKey={KEY}",
                "must be set together",
                id="key-without-name",
            ),
            pytest.param(
                "Endpoint=sb://ns/;SharedAccessKeyName=r",
                "must be set together",
                id="name-without-key",
            ),
            pytest.param(
                "Endpoint=sb://ns/", "SharedAccessKey is missing", id="no-key-at-all"
            ),
            pytest.param(
                f"Endpoint=sb://ns/;SharedAccessKeyName=r;SharedAccessKey{KEY_TEXT}",
                "part 3 has no '='",
                id="part-without-equals",
            ),
            pytest.param(
                f"Endpoint=sb://ns/;=x;SharedAccessKeyName=r;SharedAccessKey={KEY}",
                "part 2 has no name",
                id="part-without-name",
            ),
            pytest.param(
                f"Endpoint=http://ns.servicebus.windows.net/;SharedAccessKeyName=r;"
                f"SharedAccessKey={KEY}",
                "clear text",
                id="http-non-loopback",
            ),
            pytest.param(
                f"Endpoint=http://10.0.0.5:80/;SharedAccessKeyName=r;"
                f"SharedAccessKey={KEY}",
                "not loopback",
                id="http-private-address",
            ),
            pytest.param(
                f"Endpoint=ftp://ns/;SharedAccessKeyName=r;SharedAccessKey={KEY}",
                "must start with sb://",
                id="unknown-scheme",
            ),
            pytest.param(
                f"Endpoint=https://;SharedAccessKeyName=r;SharedAccessKey={KEY}",
                "no host name",
                id="no-host",
            ),
            pytest.param(
                f"Endpoint=https://ns:99999/;SharedAccessKeyName=r;"
                f"SharedAccessKey={KEY}",
                "invalid port",
                id="bad-port",
            ),
        ],
    )
    def test_invalid_strings(self, text: str, expected: str) -> None:
        with pytest.raises(ConfigurationError) as caught:
            parse_connection_string(text)

        assert expected in caught.value.message
        assert KEY_TEXT not in caught.value.message
        assert KEY_TEXT not in str(caught.value)


class TestSasToken:
    def test_matches_reference_recipe(self) -> None:
        uri = "https://ns.servicebus.windows.net/hub"

        token = build_sas_token(
            uri, "DefaultFullSharedAccessSignature", KEY, 1_800_000_000
        )

        assert token == reference_token(
            uri, "DefaultFullSharedAccessSignature", KEY, 1_800_000_000
        )

    def test_mixed_case_namespace_lowercased(self) -> None:
        uri = "https://MyNameSpace.ServiceBus.Windows.NET/SecurePush"

        fields = token_fields(build_sas_token(uri, "rule", KEY, 1_800_000_000))

        assert fields["sr"] == (
            "https%3A%2F%2Fmynamespace.servicebus.windows.net%2Fsecurepush"
        )
        expected = token_fields(
            reference_token(uri.lower(), "rule", KEY, 1_800_000_000)
        )
        assert fields["sig"] == expected["sig"]

    def test_key_is_not_base64_decoded(self) -> None:
        uri = "https://ns.servicebus.windows.net/hub"
        message = f"{urllib.parse.quote(uri, safe='')}\n1800000000".encode()
        decoded_key = base64.b64decode(KEY)
        wrong = hmac.new(decoded_key, message, hashlib.sha256).digest()

        fields = token_fields(build_sas_token(uri, "rule", KEY, 1_800_000_000))

        assert urllib.parse.unquote(fields["sig"]) != base64.b64encode(wrong).decode()

    def test_signature_special_characters_encoded(self) -> None:
        uri = "https://ns.servicebus.windows.net/hub"
        expiry = 1_800_000_000
        while True:
            digest = hmac.new(
                KEY.encode(),
                f"{urllib.parse.quote(uri, safe='')}\n{expiry}".encode(),
                hashlib.sha256,
            ).digest()
            raw = base64.b64encode(digest).decode()
            if "+" in raw and "/" in raw and raw.endswith("="):
                break
            expiry += 1

        fields = token_fields(build_sas_token(uri, "rule", KEY, expiry))

        assert fields["sig"] == urllib.parse.quote(raw, safe="")
        assert "%2B" in fields["sig"]
        assert "%2F" in fields["sig"]
        assert fields["sig"].endswith("%3D")
        assert not {"+", "/", "="} & set(fields["sig"])

    def test_fields_in_sdk_order(self) -> None:
        token = build_sas_token("https://ns/hub", "rule name", KEY, 1_800_000_000)

        names = [part.split("=", 1)[0] for part in token.split(" ", 1)[1].split("&")]

        assert names == ["sr", "sig", "se", "skn"]
        assert token_fields(token)["skn"] == "rule%20name"
        assert token_fields(token)["se"] == "1800000000"


class ManualClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TestTokenProvider:
    def test_reused_before_margin(self) -> None:
        clock = ManualClock(1_700_000_000.5)
        provider = SasTokenProvider("https://ns/hub", "rule", KEY, clock=clock)
        first = provider.authorization()

        clock.now += TOKEN_LIFETIME_SECONDS - TOKEN_RENEW_MARGIN_SECONDS - 1
        second = provider.authorization()

        assert second == first
        assert token_fields(first)["se"] == str(1_700_000_000 + TOKEN_LIFETIME_SECONDS)

    def test_renewed_at_margin(self) -> None:
        clock = ManualClock(1_700_000_000.0)
        provider = SasTokenProvider("https://ns/hub", "rule", KEY, clock=clock)
        first = provider.authorization()

        clock.now += TOKEN_LIFETIME_SECONDS - TOKEN_RENEW_MARGIN_SECONDS
        second = provider.authorization()

        assert second != first
        assert token_fields(second)["se"] == str(
            int(clock.now) + TOKEN_LIFETIME_SECONDS
        )

    def test_never_returns_expired_token(self) -> None:
        clock = ManualClock(1_700_000_000.0)
        provider = SasTokenProvider("https://ns/hub", "rule", KEY, clock=clock)

        for _ in range(200):
            token = provider.authorization()
            remaining = int(token_fields(token)["se"]) - clock.now
            assert remaining > TOKEN_RENEW_MARGIN_SECONDS
            clock.now += 97.3

    def test_clock_jump_past_expiry_renews(self) -> None:
        clock = ManualClock(1_700_000_000.0)
        provider = SasTokenProvider("https://ns/hub", "rule", KEY, clock=clock)
        first = provider.authorization()

        clock.now += 10 * TOKEN_LIFETIME_SECONDS
        second = provider.authorization()

        assert second != first
        assert int(token_fields(second)["se"]) > clock.now

    def test_margin_must_be_below_lifetime(self) -> None:
        with pytest.raises(ValueError, match="renew_margin"):
            SasTokenProvider("https://ns/hub", "r", KEY, lifetime=60, renew_margin=60)
