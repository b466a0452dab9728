"""JSON-Patch updates of an installation, with the Notification Hubs deviations.

Supported paths: `/tags` (add a string or an array, replace, remove all),
`/tags/{value}` (remove by value, not by index), `/userId`, `/pushChannel`,
`/pushVariables[/{name}]`, `/templates/{name}` (the template as an object or a
JSON string) and `/templates/{name}/{body|headers|expiry|tags}`. `replace` is
remove then add. The patched installation is validated as a whole, so a patch
either applies completely or not at all.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from devstack.hubstandin import installations
from devstack.hubstandin.errors import HubError, bad_request

OPERATIONS = ("add", "remove", "replace")
ROOT_FIELDS = {
    "tags": "tags",
    "userid": "userId",
    "pushchannel": "pushChannel",
    "pushvariables": "pushVariables",
    "templates": "templates",
}


def decode_pointer(path: Any) -> list[str]:
    """Split a JSON Pointer into unescaped segments (`~1` is `/`, `~0` is `~`)."""
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise bad_request(f"Patch path {path!r} is not a JSON Pointer such as /tags.")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def parse_json_text(value: Any, what: str) -> Any:
    """Accept a value sent either as JSON or as a JSON document in a string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise bad_request(
            f"{what} must be an object or a JSON string of one."
        ) from None


def unsupported(operation: str, path: str) -> HubError:
    return bad_request(
        f"Patch operation {operation!r} on path {path!r} is not supported."
    )


def as_tag_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def patch_tags(
    draft: dict[str, Any], operation: str, segments: list[str], value: Any
) -> None:
    if len(segments) == 2 and operation == "remove":
        remaining = [tag for tag in draft.get("tags", []) if tag != segments[1]]
        draft["tags"] = remaining
    elif len(segments) == 1 and operation == "remove":
        draft.pop("tags", None)
    elif len(segments) == 1:
        existing = draft.get("tags", []) if operation == "add" else []
        draft["tags"] = [*existing, *as_tag_list(value)]
    else:
        raise unsupported(operation, "/" + "/".join(segments))
    if not draft.get("tags"):
        draft.pop("tags", None)


def patch_scalar(draft: dict[str, Any], operation: str, field: str, value: Any) -> None:
    if operation == "remove":
        if field == "pushChannel":
            raise bad_request("pushChannel is required and cannot be removed.")
        draft.pop(field, None)
    else:
        draft[field] = value


def patch_push_variables(
    draft: dict[str, Any], operation: str, segments: list[str], value: Any
) -> None:
    if len(segments) == 1:
        patch_scalar(draft, operation, "pushVariables", parse_json_text(value, "value"))
        return
    variables = draft.setdefault("pushVariables", {})
    if operation == "remove":
        variables.pop(segments[1], None)
    else:
        variables[segments[1]] = value
    if not variables:
        draft.pop("pushVariables")


def patch_template_field(
    template: dict[str, Any], operation: str, field: str, value: Any
) -> None:
    if field not in installations.TEMPLATE_FIELDS:
        raise unsupported(operation, f"/templates/.../{field}")
    if operation == "remove":
        if field == "body":
            raise bad_request("A template body is required and cannot be removed.")
        template.pop(field, None)
    elif field in ("headers", "tags"):
        parsed = (
            parse_json_text(value, f"Template {field}") if field == "headers" else value
        )
        template[field] = as_tag_list(parsed) if field == "tags" else parsed
    else:
        template[field] = value


def patch_templates(
    draft: dict[str, Any], operation: str, segments: list[str], value: Any
) -> None:
    if len(segments) not in (2, 3):
        raise unsupported(operation, "/" + "/".join(segments))
    all_templates = draft.setdefault("templates", {})
    name = segments[1]
    if len(segments) == 2:
        if operation == "remove":
            all_templates.pop(name, None)
        else:
            all_templates[name] = parse_json_text(value, f"Template {name!r}")
    elif name not in all_templates:
        raise bad_request(
            f"Template {name!r} does not exist, so its fields cannot change."
        )
    else:
        patch_template_field(all_templates[name], operation, segments[2], value)
    if not all_templates:
        draft.pop("templates")


def apply_operation(draft: dict[str, Any], entry: Any) -> None:
    if not isinstance(entry, dict):
        raise bad_request("Each patch operation must be an object with op and path.")
    operation = str(entry.get("op", "")).lower()
    if operation not in OPERATIONS:
        raise bad_request(
            f"Patch op {entry.get('op')!r} is invalid; use add, remove or replace."
        )
    segments = decode_pointer(entry.get("path"))
    if operation != "remove" and "value" not in entry:
        raise bad_request(
            f"Patch op {operation!r} on {entry['path']!r} is missing its value."
        )
    field = ROOT_FIELDS.get(segments[0].lower())
    value = entry.get("value")
    if field == "tags":
        patch_tags(draft, operation, segments, value)
    elif field == "templates":
        patch_templates(draft, operation, segments, value)
    elif field == "pushVariables":
        patch_push_variables(draft, operation, segments, value)
    elif field is not None and len(segments) == 1:
        patch_scalar(draft, operation, field, value)
    else:
        raise unsupported(operation, entry["path"])


def apply_patch(installation: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply a list of patch operations; return the validated new installation.

    Raises HubError(400) on a malformed operation or when the result is invalid.
    """
    if not isinstance(operations, list) or not operations:
        raise bad_request(
            "The patch body must be a non-empty JSON array of operations."
        )
    draft = copy.deepcopy(installation)
    for entry in operations:
        apply_operation(draft, entry)
    return installations.validate(draft, installation["installationId"])
