"""The template expression language of Notification Hubs.

Expressions:
- `$(prop)` the property value, `$(prop, n)` clipped to n characters;
- `.(prop, n)` clipped so that, with a `...` suffix, it fits in n characters;
- `%(prop)` the value URI-encoded;
- `#(prop)` the value, written as a bare JSON number when it is the whole JSON
  string value and looks like a number;
- `{term + term ...}` concatenation, where a term is one of the above or a
  literal `'text'` or `"text"`.

Property names are case-insensitive and a missing property is the empty string.
Expressions sit only in JSON string values (APNs, FCM, ADM, Baidu, browser and
Xiaomi templates) or in XML text and attributes (WNS). A `wns/raw` body is plain
text. Substituted values are escaped for the surrounding format; literals are not,
because they are part of the template's own (already escaped) text.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

# The number syntax of JSON (and of JavaScript decimal literals).
NUMBER_PATTERN = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
PROPERTY_CALL = re.compile(r"([$#%.])\(\s*([^(),'\"{}+\s]+)\s*(?:,\s*([0-9]+)\s*)?\)")
CALL_OPENERS = ("$(", "#(", "%(", ".(")
XML_ATTRIBUTE_ESCAPES = {'"': "&quot;", "'": "&apos;"}
# encodeURIComponent leaves these unescaped besides letters and digits.
URI_SAFE = "-_.!~*'()"

JSON_KIND = "json"
XML_KIND = "xml"
TEXT_KIND = "text"


class TemplateError(ValueError):
    """A template body or expression that cannot be parsed."""


@dataclass(frozen=True)
class PropertyCall:
    """One `$(p)`, `$(p, n)`, `.(p, n)`, `%(p)` or `#(p)` expression."""

    function: str
    name: str
    length: int | None


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Concatenation:
    terms: tuple[PropertyCall | Literal, ...]


Segment = str | PropertyCall | Concatenation


def parse_call(text: str, start: int) -> tuple[PropertyCall, int] | None:
    """Parse a property call at `start`; return it and the index after it."""
    match = PROPERTY_CALL.match(text, start)
    if match is None:
        return None
    function, name, length = match.groups()
    if function == "." and length is None:
        return None
    if function in "#%" and length is not None:
        return None
    call = PropertyCall(function, name, None if length is None else int(length))
    return call, match.end()


def parse_term(text: str, start: int) -> tuple[PropertyCall | Literal, int] | None:
    quote_char = text[start : start + 1]
    if quote_char in ("'", '"'):
        end = text.find(quote_char, start + 1)
        if end < 0:
            return None
        return Literal(text[start + 1 : end]), end + 1
    return parse_call(text, start)


def skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def parse_concatenation(text: str, start: int) -> tuple[Concatenation, int] | None:
    """Parse `{term + term ...}` at `start` (the `{`); None if it is not one."""
    terms: list[PropertyCall | Literal] = []
    position = start + 1
    while True:
        parsed = parse_term(text, skip_spaces(text, position))
        if parsed is None:
            return None
        terms.append(parsed[0])
        position = skip_spaces(text, parsed[1])
        if text[position : position + 1] == "}":
            return Concatenation(tuple(terms)), position + 1
        if text[position : position + 1] != "+":
            return None
        position += 1


def parse_text(text: str) -> list[Segment]:
    """Split template text into literal text and expressions.

    A `$(`, `#(`, `%(` that does not form a valid call raises TemplateError. A `.(`
    or `{` that does not parse stays literal text, because both occur in prose.
    """
    segments: list[Segment] = []
    literal_start = position = 0
    while position < len(text):
        parsed = parse_expression_at(text, position)
        if parsed is None:
            position += 1
            continue
        segments.append(text[literal_start:position])
        segments.append(parsed[0])
        literal_start = position = parsed[1]
    segments.append(text[literal_start:])
    return [segment for segment in segments if segment != ""]


def parse_expression_at(
    text: str, position: int
) -> tuple[PropertyCall | Concatenation, int] | None:
    if text.startswith("{", position):
        return parse_concatenation(text, position)
    opener = text[position : position + 2]
    if opener not in CALL_OPENERS:
        return None
    parsed = parse_call(text, position)
    if parsed is None and opener != ".(":
        raise TemplateError(
            f"Invalid template expression at {text[position : position + 30]!r}; "
            "expected $(name), $(name, n), .(name, n), %(name) or #(name)."
        )
    return parsed


def lookup(properties: Mapping[str, str], name: str) -> str:
    return properties.get(name.lower(), "")


def evaluate_call(call: PropertyCall, properties: Mapping[str, str]) -> str:
    value = lookup(properties, call.name)
    if call.function == "%":
        return quote(value, safe=URI_SAFE)
    if call.function == "." and call.length is not None and len(value) > call.length:
        return (value[: max(call.length - 3, 0)] + "...")[: call.length]
    if call.function == "$" and call.length is not None:
        return value[: call.length]
    return value


def render_segments(
    segments: list[Segment],
    properties: Mapping[str, str],
    escape: Callable[[str], str],
) -> str:
    """Render parsed text, escaping substituted property values with `escape`."""
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            parts.append(segment)
        elif isinstance(segment, PropertyCall):
            parts.append(escape(evaluate_call(segment, properties)))
        else:
            parts.extend(
                render_term(term, properties, escape) for term in segment.terms
            )
    return "".join(parts)


def render_term(
    term: PropertyCall | Literal,
    properties: Mapping[str, str],
    escape: Callable[[str], str],
) -> str:
    if isinstance(term, Literal):
        return term.text
    return escape(evaluate_call(term, properties))


def render_json_string(text: str, properties: Mapping[str, str]) -> Any:
    """Render one JSON string value; a lone `#(p)` with a numeric value is a number."""
    segments = parse_text(text)
    if len(segments) == 1 and isinstance(segments[0], PropertyCall):
        call = segments[0]
        value = evaluate_call(call, properties)
        if call.function == "#" and NUMBER_PATTERN.fullmatch(value):
            return json.loads(value)
    return render_segments(segments, properties, lambda value: value)


def render_json_value(value: Any, properties: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return render_json_string(value, properties)
    if isinstance(value, dict):
        return {key: render_json_value(item, properties) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json_value(item, properties) for item in value]
    return value


def parse_json_body(body: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"Template body is not valid JSON: {exc.msg}.") from exc


def escape_xml(value: str) -> str:
    return xml_escape(value, XML_ATTRIBUTE_ESCAPES)


def render(body: str, kind: str, properties: Mapping[str, str]) -> str:
    """Expand a template body of the given kind (json, xml or text)."""
    properties = {name.lower(): value for name, value in properties.items()}
    if kind == JSON_KIND:
        rendered = render_json_value(parse_json_body(body), properties)
        return json.dumps(rendered, ensure_ascii=False, separators=(",", ":"))
    escape = escape_xml if kind == XML_KIND else (lambda value: value)
    return render_segments(parse_text(body), properties, escape)


def check_xml(body: str) -> None:
    try:
        # Python 3.11's bundled expat limits entity expansion, and bodies come
        # only from loopback clients.
        ElementTree.fromstring(body.encode())  # noqa: S314
    except ElementTree.ParseError as exc:
        raise TemplateError(f"Template body is not well-formed XML: {exc}.") from exc


def check_strings(value: Any) -> None:
    if isinstance(value, str):
        parse_text(value)
    elif isinstance(value, dict):
        for item in value.values():
            check_strings(item)
    elif isinstance(value, list):
        for item in value:
            check_strings(item)


def check(body: str, kind: str) -> None:
    """Raise TemplateError unless the body parses as a template of this kind."""
    if kind == JSON_KIND:
        check_strings(parse_json_body(body))
        return
    if kind == XML_KIND:
        check_xml(body)
    parse_text(body)
