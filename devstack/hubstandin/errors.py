"""The error a request handler raises to end a request with a hub error response."""

from __future__ import annotations


class HubError(Exception):
    """A failed hub request: its HTTP status, the `Detail` text and extra headers.

    `detail=None` means an empty body, which is what the real service returns for
    a send with a Listen-only rule (403).
    """

    def __init__(
        self,
        status: int,
        detail: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def bad_request(detail: str) -> HubError:
    return HubError(400, detail)
