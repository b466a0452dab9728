"""PATCH (JSON-Patch) updates of installations in the hub stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from devstack.hubstandin import HubStandIn
from tests.fixtures.hub import hub_headers, hub_url

TEMPLATE = {"body": '{"aps":{"alert":"$(message)"}}'}
START = {
    "installationId": "p-1",
    "platform": "apns",
    "pushChannel": "token-1",
    "tags": ["a", "b"],
    "userId": "user-1",
    "templates": {"alert": TEMPLATE},
}


def patch(
    hub: HubStandIn,
    operations: Any,
    content_type: str = "application/json-patch+json",
    installation_id: str = "p-1",
) -> requests.Response:
    return requests.patch(
        hub_url(hub, f"installations/{installation_id}"),
        data=json.dumps(operations),
        headers=hub_headers(hub) | {"Content-Type": content_type},
        timeout=10,
    )


@pytest.fixture
def installed(hub: HubStandIn) -> HubStandIn:
    response = requests.put(
        hub_url(hub, "installations/p-1"),
        json=START,
        headers=hub_headers(hub),
        timeout=10,
    )
    assert response.status_code == 200
    return hub


def view(hub: HubStandIn) -> dict[str, Any]:
    installation = hub.installation("p-1")
    assert installation is not None
    return installation


@pytest.mark.parametrize(
    ("operations", "field", "expected"),
    [
        pytest.param(
            [{"op": "add", "path": "/tags", "value": "c"}],
            "tags",
            ["a", "b", "c"],
            id="add-tag-string",
        ),
        pytest.param(
            [{"op": "add", "path": "/tags", "value": ["c", "d"]}],
            "tags",
            ["a", "b", "c", "d"],
            id="add-tag-array",
        ),
        pytest.param(
            [{"op": "add", "path": "/tags", "value": "a"}],
            "tags",
            ["a", "b"],
            id="add-existing-tag",
        ),
        pytest.param(
            [{"op": "remove", "path": "/tags/a"}],
            "tags",
            ["b"],
            id="remove-tag-by-value",
        ),
        pytest.param(
            [{"op": "remove", "path": "/tags/zzz"}],
            "tags",
            ["a", "b"],
            id="remove-absent-tag",
        ),
        pytest.param(
            [{"op": "replace", "path": "/tags", "value": ["z"]}],
            "tags",
            ["z"],
            id="replace-tags",
        ),
        pytest.param(
            [{"op": "add", "path": "/userId", "value": "user-2"}],
            "userId",
            "user-2",
            id="add-user",
        ),
        pytest.param(
            [{"op": "replace", "path": "/userId", "value": "u3"}],
            "userId",
            "u3",
            id="replace-user",
        ),
        pytest.param(
            [{"op": "add", "path": "/pushChannel", "value": "token-2"}],
            "pushChannel",
            "token-2",
            id="add-channel",
        ),
        pytest.param(
            [{"op": "add", "path": "/pushVariables/v", "value": "1"}],
            "pushVariables",
            {"v": "1"},
            id="add-variable",
        ),
    ],
)
def test_patch_operation_applies(
    installed: HubStandIn, operations: list[Any], field: str, expected: Any
) -> None:
    response = patch(installed, operations)
    assert response.status_code == 200
    assert response.content == b""
    assert view(installed)[field] == expected


def test_patch_remove_last_tags_drops_field(installed: HubStandIn) -> None:
    operations = [
        {"op": "remove", "path": "/tags/a"},
        {"op": "remove", "path": "/tags/b"},
    ]
    assert patch(installed, operations).status_code == 200
    assert "tags" not in view(installed)


def test_patch_remove_user_id(installed: HubStandIn) -> None:
    assert patch(installed, [{"op": "remove", "path": "/userId"}]).status_code == 200
    assert "userId" not in view(installed)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            json.dumps({"body": '{"x":"$(y)"}', "tags": ["t"]}), id="json-string"
        ),
        pytest.param({"body": '{"x":"$(y)"}', "tags": ["t"]}, id="object"),
    ],
)
def test_patch_add_template(installed: HubStandIn, value: Any) -> None:
    response = patch(
        installed, [{"op": "add", "path": "/templates/extra", "value": value}]
    )
    assert response.status_code == 200
    template = view(installed)["templates"]["extra"]
    assert template == {"body": '{"x":"$(y)"}', "tags": ["t", "extra"]}


def test_patch_template_body_and_removal(installed: HubStandIn) -> None:
    new_body = '{"aps":{"alert":"$(other)"}}'
    operations = [{"op": "replace", "path": "/templates/alert/body", "value": new_body}]
    assert patch(installed, operations).status_code == 200
    assert view(installed)["templates"]["alert"]["body"] == new_body
    assert (
        patch(installed, [{"op": "remove", "path": "/templates/alert"}]).status_code
        == 200
    )
    assert "templates" not in view(installed)


def test_patch_accepts_application_json(installed: HubStandIn) -> None:
    operations = [{"op": "add", "path": "/tags", "value": "c"}]
    assert (
        patch(installed, operations, content_type="application/json").status_code == 200
    )


def test_patch_rejects_other_content_type(installed: HubStandIn) -> None:
    operations = [{"op": "add", "path": "/tags", "value": "c"}]
    assert patch(installed, operations, content_type="text/plain").status_code == 400


def test_patch_missing_installation_is_404(hub: HubStandIn) -> None:
    operations = [{"op": "add", "path": "/tags", "value": "c"}]
    response = patch(hub, operations, installation_id="nobody")
    assert response.status_code == 404
    assert "Installation not found." in response.text


@pytest.mark.parametrize(
    ("operations", "detail"),
    [
        pytest.param([], "non-empty JSON array", id="empty-list"),
        pytest.param({"op": "add"}, "non-empty JSON array", id="object-not-list"),
        pytest.param(["add"], "must be an object", id="string-operation"),
        pytest.param(
            [{"op": "move", "path": "/tags"}], "op 'move' is invalid", id="move"
        ),
        pytest.param(
            [{"op": "add", "path": "tags", "value": "x"}], "JSON Pointer", id="no-slash"
        ),
        pytest.param(
            [{"op": "add", "path": "/tags"}], "missing its value", id="no-value"
        ),
        pytest.param(
            [{"op": "add", "path": "/platform", "value": "wns"}],
            "not supported",
            id="platform",
        ),
        pytest.param(
            [{"op": "add", "path": "/tags/0", "value": "x"}],
            "not supported",
            id="tag-index",
        ),
        pytest.param(
            [{"op": "remove", "path": "/pushChannel"}],
            "cannot be removed",
            id="remove-channel",
        ),
        pytest.param(
            [{"op": "add", "path": "/tags", "value": "bad tag"}],
            "invalid tag",
            id="bad-tag",
        ),
        pytest.param(
            [{"op": "add", "path": "/userId", "value": "a b"}],
            "userId contains",
            id="bad-user",
        ),
        pytest.param(
            [{"op": "add", "path": "/templates/x", "value": "{nope"}],
            "JSON string",
            id="template-not-json",
        ),
        pytest.param(
            [{"op": "add", "path": "/templates/x/body", "value": "{}"}],
            "does not exist",
            id="field-of-missing-template",
        ),
        pytest.param(
            [{"op": "remove", "path": "/templates/alert/body"}],
            "cannot be removed",
            id="remove-body",
        ),
    ],
)
def test_patch_rejects_bad_operation(
    installed: HubStandIn, operations: Any, detail: str
) -> None:
    before = view(installed)
    response = patch(installed, operations)
    assert response.status_code == 400
    assert detail in response.text
    assert view(installed) == before


def test_patch_is_all_or_nothing(installed: HubStandIn) -> None:
    operations = [
        {"op": "add", "path": "/tags", "value": "c"},
        {"op": "add", "path": "/tags", "value": "bad tag"},
    ]
    assert patch(installed, operations).status_code == 400
    assert view(installed)["tags"] == ["a", "b"]
