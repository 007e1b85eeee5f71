"""The slice of SQL the fake Listmonk understands in ``GET /api/subscribers?query=``.

Real Listmonk pastes ``query`` into ``WHERE <list filter> AND <search> AND %query%`` and
lets Postgres run it. The fake parses the same pasted text with SQL precedence (NOT,
then AND, then OR), so an unparenthesised ``a OR b`` escapes the list filter here too.

Understood: ``AND OR NOT``, parentheses, ``TRUE``/``FALSE``, comparisons
(``= != <> < <= > >=``), ``[NOT] IN (…)``, ``IS [NOT] NULL``, ``LOWER(x)``, string and
integer literals, the columns of ``subscribers`` (``id email name status created_at
updated_at``, ``attribs->>'key'``) and ``EXISTS (SELECT 1 FROM subscriber_lists <alias>
WHERE …)``. Tables outside Listmonk's allowlist are refused as Listmonk refuses them;
other SQL is a syntax error.

>>> match = compile_condition("subscribers.attribs->>'crm' IN ('7', '9') AND status = 'enabled'")
>>> match(Row({"attribs": {"crm": 7}, "status": "enabled"}))
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .models import parse_time

ALLOWED_TABLES = frozenset(
    {
        "subscribers",
        "lists",
        "subscriber_lists",
        "campaigns",
        "campaign_lists",
        "campaign_views",
        "links",
        "link_clicks",
        "bounces",
    }
)
SUBSCRIBER_COLUMNS = frozenset(
    {"id", "uuid", "email", "name", "status", "created_at", "updated_at"}
)
SUBSCRIPTION_COLUMNS = frozenset({"subscriber_id", "list_id", "status", "created_at", "updated_at"})

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+)|(?P<op>->>|<>|!=|<=|>=|[=<>(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?))"
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "EXISTS", "SELECT"}
_KEYWORDS |= {"FROM", "WHERE", "LOWER"}


class QueryError(Exception):
    """The text is not SQL the fake (or Listmonk) accepts; the message is Listmonk's."""


@dataclass
class Row:
    """One joined row: the subscriber, its joined subscription (when filtering by list),
    all its subscriptions (for EXISTS) and the two filters Listmonk puts before
    ``%query%``."""

    subscriber: Mapping[str, Any]
    subscription: Mapping[str, Any] | None = None
    subscriptions: tuple[Mapping[str, Any], ...] = ()
    lists_ok: bool = True
    search_ok: bool = True
    scope: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)


Predicate = Callable[[Row], bool]
Operand = Callable[[Row], Any]


def compile_condition(text: str) -> Predicate:
    """A predicate over :class:`Row` for the WHERE text, or :class:`QueryError`."""
    parser = _Parser(_tokens(text))
    predicate = parser.expression()
    if parser.peek() is not None:
        raise parser.error()
    return predicate


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if not match or match.end() == position:
            raise QueryError(f'pq: syntax error at or near "{text[position:].split()[0]}"')
        kind = match.lastgroup or ""
        value = match[kind]
        if kind == "word" and value.upper() in _KEYWORDS:
            kind, value = "kw", value.upper()
        out.append((kind, value))
        position = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0
        # alias -> "subscribers", "join" (Listmonk's own LEFT JOIN) or "scope" (EXISTS)
        self.aliases = {"subscribers": "subscribers", "subscriber_lists": "join"}

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def error(self) -> QueryError:
        token = self.peek()
        near = token[1] if token else "end of input"
        return QueryError(f'pq: syntax error at or near "{near}"')

    def accept(self, kind: str, value: str | None = None) -> str | None:
        token = self.peek()
        if token and token[0] == kind and (value is None or token[1] == value):
            self.position += 1
            return token[1]
        return None

    def expect(self, kind: str, value: str | None = None) -> str:
        found = self.accept(kind, value)
        if found is None:
            raise self.error()
        return found

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.accept("kw", "OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.accept("kw", "AND"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def negation(self) -> Predicate:
        if self.accept("kw", "NOT"):
            inner = self.negation()
            return lambda row: not inner(row)
        return self.primary()

    def primary(self) -> Predicate:
        if self.accept("op", "("):
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if self.accept("kw", "TRUE"):
            return lambda row: True
        if self.accept("kw", "FALSE"):
            return lambda row: False
        if self.accept("kw", "EXISTS"):
            return self.exists()
        if self.accept("word", "__lists__"):
            return lambda row: row.lists_ok
        if self.accept("word", "__search__"):
            return lambda row: row.search_ok
        return self.comparison()

    def exists(self) -> Predicate:
        self.expect("op", "(")
        self.expect("kw", "SELECT")
        if not (self.accept("num") or self.accept("op", "*") or self.accept("word")):
            raise self.error()
        self.expect("kw", "FROM")
        table = self.expect("word")
        if table not in ALLOWED_TABLES:
            raise QueryError(f"table '{table}' is not allowed")
        if table != "subscriber_lists":
            raise QueryError(f"pq: the fake Listmonk only queries subscriber_lists, not {table}")
        alias = self.accept("word") or table
        self.aliases[alias] = "scope"
        self.expect("kw", "WHERE")
        inner = self.expression()
        self.expect("op", ")")

        def exists(row: Row) -> bool:
            for subscription in row.subscriptions:
                row.scope[alias] = subscription
                if inner(row):
                    return True
            return False

        return exists

    def comparison(self) -> Predicate:
        left = self.operand()
        negate = bool(self.accept("kw", "NOT"))
        if self.accept("kw", "IN"):
            self.expect("op", "(")
            values = [self.operand()]
            while self.accept("op", ","):
                values.append(self.operand())
            self.expect("op", ")")
            return lambda row: _in(left(row), [v(row) for v in values]) != negate
        if negate:
            raise self.error()
        if self.accept("kw", "IS"):
            is_not = bool(self.accept("kw", "NOT"))
            self.expect("kw", "NULL")
            return lambda row: (left(row) is None) != is_not
        op = self.accept("op")
        if op not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            raise self.error()
        right = self.operand()
        return lambda row: _compare(left(row), op, right(row))

    def operand(self) -> Operand:
        if (text := self.accept("str")) is not None:
            literal = text[1:-1].replace("''", "'")
            return lambda row: literal
        if (number := self.accept("num")) is not None:
            return lambda row: int(number)
        if self.accept("kw", "LOWER"):
            self.expect("op", "(")
            inner = self.operand()
            self.expect("op", ")")
            return lambda row: None if inner(row) is None else str(inner(row)).lower()
        name = self.expect("word")
        table, _, column = name.rpartition(".")
        kind = self.aliases.get(table or "subscribers")
        if kind is None:
            raise QueryError(f'pq: missing FROM-clause entry for table "{table}"')
        if column == "attribs" and kind == "subscribers" and self.accept("op", "->>"):
            key = self.expect("str")[1:-1].replace("''", "'")
            return lambda row: _text(row.subscriber.get("attribs", {}).get(key))
        columns = SUBSCRIBER_COLUMNS if kind == "subscribers" else SUBSCRIPTION_COLUMNS
        if column not in columns:
            raise QueryError(f'pq: column "{name}" does not exist')
        if kind == "subscribers":
            return lambda row: row.subscriber.get(column)
        if kind == "join":  # the outer LEFT JOIN: NULL unless filtering by list
            return lambda row: (row.subscription or {}).get(column)
        return lambda row: (row.scope.get(table) or {}).get(column)


def _text(value: Any) -> str | None:
    """``->>`` gives text: strings as they are, other JSON values as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, datetime) and isinstance(right, str):
        return left, parse_time(right)
    if isinstance(right, datetime) and isinstance(left, str):
        return parse_time(left), right
    if isinstance(left, int) and isinstance(right, str) and right.lstrip("-").isdigit():
        return left, int(right)
    if isinstance(left, str) and isinstance(right, int):
        return left, str(right)
    return left, right


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None or right is None:
        return False
    left, right = _coerce(left, right)
    if op == "=":
        return bool(left == right)
    if op in ("!=", "<>"):
        return bool(left != right)
    try:
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        )
    except TypeError as exc:
        raise QueryError(f"pq: operator does not exist: {exc}") from exc


def _in(left: Any, values: list[Any]) -> bool:
    return left is not None and any(_compare(left, "=", value) for value in values)
