"""Two ways to call the functions, with the same interface, on the real local parts.

`FunctionApi` builds `azure.functions.HttpRequest` objects and calls each
folder's `main` in this process. `HttpApi` sends real HTTP requests to the
local host, mints tokens through the issuer's HTTP endpoint and reads the hub
stand-in through its control endpoints. So it can also target an app that
another process serves. Set SECUREPUSH_TEST_BASE_URL to that app's base URL
(for example `func start` configured by `make stack`), and the HTTP tests use
the issuer and hub recorded in .devstack/stack.json.

The `api` fixture runs a test once per transport, so both paths must agree.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import requests

from devstack.host import FunctionsHost, Invocation
from devstack.hubstandin import HubStandIn
from devstack.issuer import LocalIssuer, mint_via_http

EXTERNAL_BASE_URL = os.environ.get("SECUREPUSH_TEST_BASE_URL")
TIMEOUT = 30
# Fewer attempts than the default keep the tests of a failing hub short.
HUB_MAX_ATTEMPTS = 3


@dataclass
class Response:
    """A function's response, whichever transport carried it."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        return str(self.json()["error"]["code"])

    @property
    def error_message(self) -> str:
        return str(self.json()["error"]["message"])


@dataclass
class Api:
    """Calls the functions; subclasses choose the transport."""

    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, user_id: str) -> str:
        raise NotImplementedError

    def sender(self, client_id: str) -> str:
        raise NotImplementedError

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        raise NotImplementedError

    def deliveries(self, installation_id: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def fail_next(self, **fault: Any) -> None:
        raise NotImplementedError

    @staticmethod
    def _encode(body: Any, raw: bytes | None) -> bytes:
        if raw is not None:
            return raw
        return b"" if body is None else json.dumps(body).encode("utf-8")

    @staticmethod
    def _headers(token: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers | (extra or {})


class FunctionApi(Api):
    """Calls `main` of the function folders in this process."""

    def __init__(
        self, host: FunctionsHost, issuer: LocalIssuer, hub: HubStandIn
    ) -> None:
        super().__init__()
        self.host, self.issuer, self.hub = host, issuer, hub

    def user(self, user_id: str) -> str:
        return self.issuer.mint_user(user_id)

    def sender(self, client_id: str) -> str:
        return self.issuer.mint_sender(client_id)

    def call(self, method, path, *, token=None, body=None, raw=None, headers=None):
        route_path, _, query = path.partition("?")
        found = self.host.match(method, route_path)
        assert found is not None, f"no function serves {method} {route_path}"
        function, route_values = found
        request = func.HttpRequest(
            method=method,
            url=f"http://127.0.0.1{path}",
            headers=self._headers(token, headers),
            params=dict(
                part.split("=", 1) if "=" in part else (part, "")
                for part in query.split("&")
                if part
            ),
            route_params=route_values,
            body=self._encode(body, raw),
        )
        response = function.entry(
            req=request, context=Invocation(function.name, str(function.directory))
        )
        return Response(
            response.status_code,
            {name.lower(): value for name, value in response.headers.items()},
            response.get_body(),
        )

    def deliveries(self, installation_id=None):
        return [vars(d) for d in self.hub.deliveries(installation_id)]

    def fail_next(self, **fault):
        self.hub.fail_next(**fault)


class HttpApi(Api):
    """Sends real HTTP requests to a host, an issuer and a hub stand-in."""

    def __init__(self, base_url: str, issuer_url: str, hub_url: str) -> None:
        super().__init__()
        self.base_url, self.issuer_url = base_url.rstrip("/"), issuer_url
        self.hub_url = hub_url.rstrip("/")
        self.session = requests.Session()

    def user(self, user_id: str) -> str:
        return mint_via_http(self.issuer_url, user=user_id)

    def sender(self, client_id: str) -> str:
        return mint_via_http(self.issuer_url, sender=client_id)

    def call(self, method, path, *, token=None, body=None, raw=None, headers=None):
        response = self.session.request(
            method,
            f"{self.base_url}{path}",
            data=self._encode(body, raw),
            headers=self._headers(token, headers),
            timeout=TIMEOUT,
        )
        return Response(
            response.status_code,
            {name.lower(): value for name, value in response.headers.items()},
            response.content,
        )

    def deliveries(self, installation_id=None):
        params = {"installationId": installation_id} if installation_id else {}
        response = self.session.get(
            f"{self.hub_url}/_standin/deliveries", params=params, timeout=TIMEOUT
        )
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return [_snake_case_keys(item) for item in result]

    def fail_next(self, **fault):
        body = {
            "status": fault["status"],
            "retryAfter": fault.get("retry_after"),
            "count": fault.get("count", 1),
            "kind": fault.get("kind"),
        }
        response = self.session.post(
            f"{self.hub_url}/_standin/faults", json=body, timeout=TIMEOUT
        )
        response.raise_for_status()


def _snake_case_keys(item: dict[str, Any]) -> dict[str, Any]:
    renamed = {}
    for key, value in item.items():
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        renamed[snake] = value
    return renamed
