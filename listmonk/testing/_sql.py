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

:func:`compile_query` also says which rows can match at all, so that the fake need not
test every subscriber (Postgres would use its indexes): a *bound* built from ``=`` and
``IN`` on ``subscribers.id``, ``subscribers.email``, ``LOWER(subscribers.email)`` and
``subscribers.attribs->>'key'`` with literals, a range from ``< <= > >=`` on
``subscribers.id`` with an integer, ``__lists__`` (the list filter), and ``FALSE``.
``AND`` is bounded by any bounded part (the intersection), ``OR`` only when every part
is; anything else is unbounded (``None``). A bound is a superset of the
matching rows, never more precise than that: the predicate still decides.

>>> compile_query("__lists__ AND __search__ AND subscribers.email = 'a@b.c' OR id IN (1, '2')")[1]
('or', (('and', (('lists',), ('email', frozenset({'a@b.c'})))), ('id', frozenset({1, 2}))))
>>> compile_query("subscribers.email = 'a@b.c' OR NOT id = 1")[1] is None
True
>>> compile_query("subscribers.id > 5 AND 9 >= subscribers.id")[1]
('range', 6, 9)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..models import parse_time
from ._base import attribute_text as _text

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
# ``IN ('a', 'b', 7)``: a whole list of literals as one token (lookups send hundreds).
_LITERAL = r"'(?:[^']|'')*'|\d+"
_LITERAL_LIST_RE = re.compile(rf"\s*\(\s*((?:{_LITERAL})(?:\s*,\s*(?:{_LITERAL}))*)\s*\)")
_LITERAL_RE = re.compile(_LITERAL)
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
# ("id", ids) | ("range", lowest id or None, highest id or None) | ("email", lowercased
# emails) | ("attr", key, texts) | ("lists",) | ("and", bounds) | ("or", bounds);
# None: any row may match.
Bound = tuple[Any, ...]
# What an operand is, for bounds: ("column", name), ("lower", name), ("attr", key),
# ("literal", value); None for anything else.
Shape = tuple[str, Any] | None


def compile_condition(text: str) -> Predicate:
    """A predicate over :class:`Row` for the WHERE text, or :class:`QueryError`."""
    return compile_query(text)[0]


def compile_query(text: str) -> tuple[Predicate, Bound | None]:
    """The predicate and the bound (see the module docstring) of the WHERE text."""
    parser = _Parser(_tokens(text))
    predicate, bound = parser.expression()
    if parser.peek() is not None:
        raise parser.error()
    return predicate, bound


def _and_bound(bounds: list[Bound | None]) -> Bound | None:
    ranges = [b for b in bounds if b is not None and b[0] == "range"]
    bounded = tuple(b for b in bounds if b is not None and b[0] != "range")
    if ranges:  # ``id > a AND id <= b``: one range, not two halves of the table
        lows = [r[1] for r in ranges if r[1] is not None]
        highs = [r[2] for r in ranges if r[2] is not None]
        merged = ("range", max(lows) if lows else None, min(highs) if highs else None)
        bounded = (*bounded, merged)
    if not bounded:
        return None
    return bounded[0] if len(bounded) == 1 else ("and", bounded)


def _or_bound(bounds: list[Bound | None]) -> Bound | None:
    if any(b is None for b in bounds):
        return None
    return bounds[0] if len(bounds) == 1 else ("or", tuple(bounds))  # type: ignore[arg-type]


def _comparison_bound(left: Shape, values: list[Shape]) -> Bound | None:
    """The rows ``left = v1 OR left = v2 …`` can match, following :func:`_compare`."""
    if left is None or any(v is None or v[0] != "literal" for v in values):
        return None
    literals = [v[1] for v in values]  # type: ignore[index]
    kind, name = left
    if kind == "column" and name == "id":
        ids: set[int] = set()
        for value in literals:
            if isinstance(value, int):
                ids.add(value)
            elif value.lstrip("-").isdigit():
                try:
                    ids.add(int(value))
                except ValueError:
                    return None  # the predicate decides how that fails
        return ("id", frozenset(ids))
    if kind in ("column", "lower") and name == "email":
        # Emails are stored lowercased (one row per LOWER(email)); for a plain
        # ``email = 'X'`` the index entry of 'x' is a superset.
        return ("email", frozenset(str(value).lower() for value in literals))
    if kind == "attr":
        return ("attr", name, frozenset(str(value) for value in literals))
    return None


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _range_bound(left: Shape, op: str, right: Shape) -> Bound | None:
    """The ids ``subscribers.id <op> <integer>`` (either way round) can match."""
    if right == ("column", "id") and left is not None and left[0] == "literal":
        left, op, right = right, _FLIPPED[op], left
    if left != ("column", "id") or right is None or right[0] != "literal":
        return None
    value = right[1]
    if not isinstance(value, int):
        return None  # a text compared with an id: the predicate decides
    return {
        ">": ("range", value + 1, None),
        ">=": ("range", value, None),
        "<": ("range", None, value - 1),
        "<=": ("range", None, value),
    }[op]


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        if out and out[-1] == ("kw", "IN"):
            literals = _LITERAL_LIST_RE.match(text, position)
            if literals:  # "(", ("literals", [tokens]), ")"
                values = [
                    ("str" if v[0] == "'" else "num", v) for v in _LITERAL_RE.findall(literals[1])
                ]
                out += [("op", "("), ("literals", values), ("op", ")")]
                position = literals.end()
                continue
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
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.position = 0
        # alias -> "subscribers", "join" (Listmonk's own LEFT JOIN) or "scope" (EXISTS)
        self.aliases = {"subscribers": "subscribers", "subscriber_lists": "join"}

    def peek(self) -> tuple[str, Any] | None:
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

    def expression(self) -> tuple[Predicate, Bound | None]:
        parts = [self.conjunction()]
        while self.accept("kw", "OR"):
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        predicates = [p for p, _ in parts]
        bound = _or_bound([b for _, b in parts])
        return (lambda row: any(p(row) for p in predicates)), bound

    def conjunction(self) -> tuple[Predicate, Bound | None]:
        parts = [self.negation()]
        while self.accept("kw", "AND"):
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        predicates = [p for p, _ in parts]
        bound = _and_bound([b for _, b in parts])
        return (lambda row: all(p(row) for p in predicates)), bound

    def negation(self) -> tuple[Predicate, Bound | None]:
        if self.accept("kw", "NOT"):
            inner, _ = self.negation()
            return (lambda row: not inner(row)), None
        return self.primary()

    def primary(self) -> tuple[Predicate, Bound | None]:
        if self.accept("op", "("):
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if self.accept("kw", "TRUE"):
            return (lambda row: True), None
        if self.accept("kw", "FALSE"):
            return (lambda row: False), ("id", frozenset())
        if self.accept("kw", "EXISTS"):
            return self.exists(), None
        if self.accept("word", "__lists__"):
            return (lambda row: row.lists_ok), ("lists",)
        if self.accept("word", "__search__"):
            return (lambda row: row.search_ok), None
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
        inner, _ = self.expression()
        self.expect("op", ")")

        def exists(row: Row) -> bool:
            for subscription in row.subscriptions:
                row.scope[alias] = subscription
                if inner(row):
                    return True
            return False

        return exists

    def comparison(self) -> tuple[Predicate, Bound | None]:
        left, left_shape = self.operand()
        negate = bool(self.accept("kw", "NOT"))
        if self.accept("kw", "IN"):
            self.expect("op", "(")
            shapes = self.in_list()
            self.expect("op", ")")
            bound = None if negate else _comparison_bound(left_shape, shapes)
            member = _literal_membership(shapes)
            if member is not None:  # ``x IN ('a', 'b', …)``: a set, not a loop
                literals = [shape[1] for shape in shapes]  # type: ignore[index]
                return (lambda row: _in_literals(left(row), literals, member) != negate), bound
            values = self.in_operands
            return (lambda row: _in(left(row), [v(row) for v in values]) != negate), bound
        if negate:
            raise self.error()
        if self.accept("kw", "IS"):
            is_not = bool(self.accept("kw", "NOT"))
            self.expect("kw", "NULL")
            return (lambda row: (left(row) is None) != is_not), None
        op = self.accept("op")
        if op not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            raise self.error()
        right, right_shape = self.operand()
        if op == "=":
            bound = _comparison_bound(left_shape, [right_shape])
        elif op in _FLIPPED:
            bound = _range_bound(left_shape, op, right_shape)
        else:
            bound = None
        # ``'x' = column`` is the same for strings and ids, but ``7 = attribs->>'k'``
        # compares as numbers (_coerce), which no text index answers.
        if (
            op == "="
            and bound is None
            and left_shape
            and left_shape[0] == "literal"
            and (isinstance(left_shape[1], str) or right_shape == ("column", "id"))
        ):
            bound = _comparison_bound(right_shape, [left_shape])
        return (lambda row: _compare(left(row), op, right(row))), bound

    def in_list(self) -> list[Shape]:
        """The shapes of an ``IN`` list (literals read straight from the tokens, the
        common and long case); its operands are left in ``in_operands``."""
        shapes: list[Shape] = []
        operands: list[Operand] = []
        tokens = self.tokens
        if self.accept("literals") is not None:
            for kind, text in tokens[self.position - 1][1]:
                value: Any = text[1:-1].replace("''", "'") if kind == "str" else int(text)
                shapes.append(("literal", value))
                operands.append(lambda row, value=value: value)
            self.in_operands = operands
            return shapes
        while True:
            token = tokens[self.position] if self.position < len(tokens) else None
            if token is not None and token[0] in ("str", "num"):
                self.position += 1
                value = token[1][1:-1].replace("''", "'") if token[0] == "str" else None
                value = int(token[1]) if value is None else value
                shapes.append(("literal", value))
                operands.append(lambda row, value=value: value)
            else:
                operand, shape = self.operand()
                shapes.append(shape)
                operands.append(operand)
            if not self.accept("op", ","):
                self.in_operands = operands
                return shapes

    def operand(self) -> tuple[Operand, Shape]:
        if (text := self.accept("str")) is not None:
            literal = text[1:-1].replace("''", "'")
            return (lambda row: literal), ("literal", literal)
        if (number := self.accept("num")) is not None:
            value = int(number)
            return (lambda row: value), ("literal", value)
        if self.accept("kw", "LOWER"):
            self.expect("op", "(")
            inner, shape = self.operand()
            self.expect("op", ")")
            lowered: Shape = None
            if shape is not None and shape[0] == "column":
                lowered = ("lower", shape[1])
            elif shape is not None and shape[0] == "literal":
                lowered = ("literal", str(shape[1]).lower())
            return (lambda row: None if inner(row) is None else str(inner(row)).lower()), lowered
        name = self.expect("word")
        table, _, column = name.rpartition(".")
        kind = self.aliases.get(table or "subscribers")
        if kind is None:
            raise QueryError(f'pq: missing FROM-clause entry for table "{table}"')
        if column == "attribs" and kind == "subscribers" and self.accept("op", "->>"):
            key = self.expect("str")[1:-1].replace("''", "'")
            return (
                lambda row: _text(row.subscriber.get("attribs", {}).get(key)),
                ("attr", key),
            )
        columns = SUBSCRIBER_COLUMNS if kind == "subscribers" else SUBSCRIPTION_COLUMNS
        if column not in columns:
            raise QueryError(f'pq: column "{name}" does not exist')
        if kind == "subscribers":
            return (lambda row: row.subscriber.get(column)), ("column", column)
        if kind == "join":  # the outer LEFT JOIN: NULL unless filtering by list
            return (lambda row: (row.subscription or {}).get(column)), None
        return (lambda row: (row.scope.get(table) or {}).get(column)), None


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


Membership = tuple[frozenset[str], frozenset[int] | None]


def _literal_membership(shapes: list[Shape]) -> Membership | None:
    """For an ``IN`` list of literals: the values a text and an integer operand are equal
    to under :func:`_compare` (``None`` for integers when a literal's coercion fails)."""
    if any(s is None or s[0] != "literal" for s in shapes):
        return None
    literals = [s[1] for s in shapes]  # type: ignore[index]
    texts = frozenset(v if isinstance(v, str) else str(v) for v in literals)
    try:
        numbers: frozenset[int] | None = frozenset(
            v if isinstance(v, int) else int(v)
            for v in literals
            if isinstance(v, int) or v.lstrip("-").isdigit()
        )
    except ValueError:
        numbers = None
    return texts, numbers


def _in_literals(left: Any, literals: list[Any], member: Membership) -> bool:
    """:func:`_in` for literals, by set lookup for text and integers (the same result)."""
    if isinstance(left, str):
        return left in member[0]
    if isinstance(left, int) and not isinstance(left, bool) and member[1] is not None:
        return left in member[1]
    return _in(left, literals)
