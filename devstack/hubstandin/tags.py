"""Tag expressions: parse, check limits and evaluate against a set of tags.

Grammar (operators as in the Notification Hubs docs, `!` binding tightest):

    expression := conjunction ("||" conjunction)*
    conjunction := unary ("&&" unary)*
    unary := "!" unary | "(" expression ")" | tag

A tag is 1-120 characters of `A-Z a-z 0-9 _ @ # . : -`, or a system tag
`$InstallationId:{id}` or `$UserId:{id}` whose braces may hold any text but `}`.
An expression of ORs only may name 20 tags, any other expression 6.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass

MAX_TAG_LENGTH = 120
MAX_TAGS_OR_ONLY = 20
MAX_TAGS_MIXED = 6

TAG_PATTERN = re.compile(r"[A-Za-z0-9_@#.:\-]+")
SYSTEM_TAG_PATTERN = re.compile(r"\$(InstallationId|UserId):\{([^}]*)\}", re.IGNORECASE)
TOKEN_PATTERN = re.compile(
    r"\s*(?:(?P<operator>&&|\|\||!|\(|\))|(?P<system>\$[A-Za-z]+:\{[^}]*\})"
    r"|(?P<tag>[A-Za-z0-9_@#.:\-]+))"
)


class TagExpressionError(ValueError):
    """A tag expression that is malformed or over a limit."""


@dataclass(frozen=True)
class Tag:
    name: str


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Tag | Not | And | Or


def is_valid_tag(tag: str) -> bool:
    return len(tag) <= MAX_TAG_LENGTH and TAG_PATTERN.fullmatch(tag) is not None


def installation_id_tag(installation_id: str) -> str:
    return f"$InstallationId:{{{installation_id}}}"


def user_id_tag(user_id: str) -> str:
    return f"$UserId:{{{user_id}}}"


def canonical_system_tag(text: str) -> str:
    match = SYSTEM_TAG_PATTERN.fullmatch(text)
    if match is None:
        raise TagExpressionError(
            f"Unknown system tag {text!r}; "
            "use $InstallationId:{id} or $UserId:{id}."
        )
    kind, value = match.groups()
    if kind.lower() == "installationid":
        return installation_id_tag(value)
    return user_id_tag(value)


def tokenize(expression: str) -> list[str]:
    """Split an expression into operators and tags; raise on any other character."""
    tokens: list[str] = []
    position = 0
    while position < len(expression.rstrip()):
        match = TOKEN_PATTERN.match(expression, position)
        if match is None:
            raise TagExpressionError(
                f"Invalid character {expression[position:].lstrip()[:1]!r} in tag "
                f"expression at position {position}."
            )
        tokens.append(canonical_token(match))
        position = match.end()
    return tokens


def canonical_token(match: re.Match[str]) -> str:
    if match["system"]:
        return canonical_system_tag(match["system"])
    if match["tag"] and len(match["tag"]) > MAX_TAG_LENGTH:
        raise TagExpressionError(
            f"Tag {match['tag'][:20]!r}... is longer than {MAX_TAG_LENGTH} characters."
        )
    return match["operator"] or match["tag"]


class _Parser:
    """Recursive-descent parser over the token list."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise TagExpressionError("Tag expression ends where a tag was expected.")
        self.position += 1
        return token

    def expression(self) -> Node:
        operands = [self.conjunction()]
        while self.peek() == "||":
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.unary()]
        while self.peek() == "&&":
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        token = self.take()
        if token == "!":
            return Not(self.unary())
        if token == "(":
            inner = self.expression()
            if self.peek() != ")":
                raise TagExpressionError("Tag expression has an unclosed '('.")
            self.take()
            return inner
        if token in ("&&", "||", ")"):
            raise TagExpressionError(
                f"Tag expression has {token!r} where a tag was expected."
            )
        return Tag(token)


def parse(expression: str) -> Node:
    """Parse a tag expression and check its limits; raise TagExpressionError."""
    tokens = tokenize(expression)
    if not tokens:
        raise TagExpressionError("Tag expression is empty.")
    parser = _Parser(tokens)
    tree = parser.expression()
    if parser.peek() is not None:
        raise TagExpressionError(f"Tag expression has an unexpected {parser.peek()!r}.")
    check_limits(tokens)
    return tree


def check_limits(tokens: list[str]) -> None:
    tag_count = sum(1 for token in tokens if token not in ("&&", "||", "!", "(", ")"))
    or_only = not any(token in ("&&", "!") for token in tokens)
    limit = MAX_TAGS_OR_ONLY if or_only else MAX_TAGS_MIXED
    if tag_count > limit:
        kind = "with only || operators" if or_only else "with && or !"
        raise TagExpressionError(
            f"Tag expression names {tag_count} tags; an expression {kind} "
            f"may name at most {limit}."
        )


def evaluate(node: Node, tags: Set[str]) -> bool:
    """Return whether a parsed expression holds for a target with these tags."""
    if isinstance(node, Tag):
        return node.name in tags
    if isinstance(node, Not):
        return not evaluate(node.operand, tags)
    if isinstance(node, And):
        return all(evaluate(operand, tags) for operand in node.operands)
    return any(evaluate(operand, tags) for operand in node.operands)


def target_tags(
    installation_id: str, user_id: str | None, tags: Iterable[str]
) -> frozenset[str]:
    """Return the tags a target matches on: its own plus the system tags."""
    system = [installation_id_tag(installation_id)]
    if user_id:
        system.append(user_id_tag(user_id))
    return frozenset([*tags, *system])
