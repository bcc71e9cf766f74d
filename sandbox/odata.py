"""The OData subset Graph supports on directory objects: ``$filter`` parsing, checking and evaluation.

Rules come from "Use query parameters to customize responses" and "Advanced query capabilities on
Microsoft Entra ID objects" (the per-property ``$filter`` support table):

* string literals are single-quoted and a quote inside one is written twice (``'O''Brien'``);
* ``eq``, ``in``, ``startsWith``, ``and``, ``or`` and lambda ``any`` work by default where the table
  says so; ``ne``, ``not`` and ``endsWith``, and some properties (``companyName``, ``employeeType``,
  ``onPremisesExtensionAttributes``...), need the *advanced query parameters*: the
  ``ConsistencyLevel: eventual`` header **and** ``$count=true``;
* directory string comparisons are case-insensitive.

A malformed expression is a 400 ``BadRequest`` "Invalid filter clause: ..." like Graph's OData parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sandbox.errors import GraphError

_ADVANCED_HINT = (
    "is not supported because the required parameters might be missing. Try adding $count=true query "
    "parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries "
    "for more information"
)


class Support(Enum):
    """Whether an operator works on a property by default, only in advanced queries, or not at all."""

    DEFAULT = "default"
    ADVANCED = "advanced"


@dataclass(frozen=True)
class PropertyRules:
    """Which ``$filter`` operators one property supports (absent operator = unsupported)."""

    eq: Support | None = Support.DEFAULT
    starts_with: Support | None = None
    ends_with: Support | None = None
    collection: bool = False
    #: Fields of a complex element usable inside ``any()``: ``assignedLicenses/any(s:s/skuId eq ..)``.
    element_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ResourceRules:
    """The filterable properties of one resource type."""

    type_name: str  # "user" as in microsoft.graph.user
    resource: str  # "User" as Graph names it in error messages
    properties: Mapping[str, PropertyRules] = field(default_factory=dict)

    def lookup(self, path: tuple[str, ...]) -> PropertyRules | None:
        """Find the rules for a property path, case-insensitively as Graph matches property names."""
        wanted = "/".join(path).lower()
        for name, rules in self.properties.items():
            if name.lower() == wanted:
                return rules
        return None


_D, _A = Support.DEFAULT, Support.ADVANCED


def _user_rules() -> ResourceRules:
    props: dict[str, PropertyRules] = {
        "id": PropertyRules(),
        "accountEnabled": PropertyRules(),
        "ageGroup": PropertyRules(),
        "city": PropertyRules(starts_with=_D),
        "country": PropertyRules(starts_with=_D),
        "createdDateTime": PropertyRules(),
        "creationType": PropertyRules(),
        "department": PropertyRules(starts_with=_D),
        "displayName": PropertyRules(starts_with=_D),
        "employeeId": PropertyRules(starts_with=_D),
        "givenName": PropertyRules(starts_with=_D),
        "jobTitle": PropertyRules(),
        "mail": PropertyRules(starts_with=_D, ends_with=_A),
        "mailNickname": PropertyRules(starts_with=_D),
        "state": PropertyRules(starts_with=_D),
        "surname": PropertyRules(starts_with=_D),
        "usageLocation": PropertyRules(starts_with=_D),
        "userPrincipalName": PropertyRules(starts_with=_D, ends_with=_A),
        "userType": PropertyRules(),
        "onPremisesSyncEnabled": PropertyRules(),
        # Advanced-only properties, per "Advanced query capabilities on Microsoft Entra ID objects".
        "companyName": PropertyRules(eq=_A, starts_with=_A),
        "employeeType": PropertyRules(eq=_A, starts_with=_A),
        "employeeHireDate": PropertyRules(eq=_A),
        "mobilePhone": PropertyRules(eq=_A, starts_with=_A),
        "officeLocation": PropertyRules(eq=_A, starts_with=_A),
        "postalCode": PropertyRules(eq=_A, starts_with=_A),
        "preferredLanguage": PropertyRules(eq=_A, starts_with=_A),
        "streetAddress": PropertyRules(eq=_A, starts_with=_A),
        "showInAddressList": PropertyRules(eq=_A),
        "passwordPolicies": PropertyRules(eq=_A),
        "onPremisesImmutableId": PropertyRules(eq=_A),
        # Collections are filtered through lambda operators only.
        "otherMails": PropertyRules(starts_with=_D, ends_with=_A, collection=True),
        "proxyAddresses": PropertyRules(starts_with=_D, ends_with=_A, collection=True),
        "businessPhones": PropertyRules(collection=True),
        "imAddresses": PropertyRules(starts_with=_D, collection=True),
        "assignedLicenses": PropertyRules(collection=True, element_fields=frozenset({"skuId"})),
    }
    for n in range(1, 16):
        props[f"onPremisesExtensionAttributes/extensionAttribute{n}"] = PropertyRules(eq=_A)
    return ResourceRules("user", "User", props)


def _group_rules() -> ResourceRules:
    return ResourceRules(
        "group",
        "Group",
        {
            "id": PropertyRules(),
            "displayName": PropertyRules(starts_with=_D),
            "mailNickname": PropertyRules(starts_with=_D),
            "mail": PropertyRules(starts_with=_D, ends_with=_A),
            "securityEnabled": PropertyRules(),
            "mailEnabled": PropertyRules(),
            "description": PropertyRules(eq=_A, starts_with=_A),
            "groupTypes": PropertyRules(collection=True),
        },
    )


USER_RULES = _user_rules()
GROUP_RULES = _group_rules()


# ----------------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Guid:
    """An unquoted GUID literal (``skuId eq 7a551360-...``)."""

    value: str


Literal = str | bool | int | float | Guid | None


@dataclass(frozen=True)
class Compare:
    path: tuple[str, ...]
    op: str  # eq | ne
    value: Literal


@dataclass(frozen=True)
class InList:
    path: tuple[str, ...]
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class StringFunction:
    name: str  # startswith | endswith
    path: tuple[str, ...]
    value: str


@dataclass(frozen=True)
class AnyLambda:
    path: tuple[str, ...]
    variable: str
    body: Node


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    left: Node
    right: Node


Node = Compare | InList | StringFunction | AnyLambda | Not | BoolOp


# ----------------------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, string, number, guid, punct, end
    text: str
    pos: int
    value: Any = None


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


class _Syntax(Exception):
    def __init__(self, pos: int, unterminated: bool = False) -> None:
        super().__init__(pos)
        self.pos = pos
        self.unterminated = unterminated


def _tokens(text: str) -> Iterator[_Token]:
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            # OData: a quote inside a string literal is escaped by doubling it.
            j, chars = i + 1, []
            while True:
                if j >= len(text):
                    raise _Syntax(i, unterminated=True)
                if text[j] == "'":
                    if j + 1 < len(text) and text[j + 1] == "'":
                        chars.append("'")
                        j += 2
                        continue
                    break
                chars.append(text[j])
                j += 1
            yield _Token("string", text[i : j + 1], i, "".join(chars))
            i = j + 1
            continue
        if ch in "(),:/":
            yield _Token("punct", ch, i)
            i += 1
            continue
        if m := _GUID.match(text, i):
            yield _Token("guid", m.group(0), i, m.group(0).lower())
            i = m.end()
            continue
        if m := _NUMBER.match(text, i):
            raw = m.group(0)
            yield _Token("number", raw, i, float(raw) if "." in raw else int(raw))
            i = m.end()
            continue
        if m := _IDENT.match(text, i):
            yield _Token("ident", m.group(0), i)
            i = m.end()
            continue
        raise _Syntax(i)
    yield _Token("end", "", len(text))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() in words

    def expect_punct(self, ch: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != ch:
            raise _Syntax(self.tok.pos)
        self.i += 1

    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind != "end":
            raise _Syntax(self.tok.pos)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.is_word("or"):
            self.i += 1
            node = BoolOp("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.is_word("and"):
            self.i += 1
            node = BoolOp("and", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.is_word("not"):
            self.i += 1
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.i += 1
            node = self.parse_or()
            self.expect_punct(")")
            return node
        if self.is_word("startswith", "endswith") and self.tokens[self.i + 1].text == "(":
            name = self.next().text.lower()
            self.expect_punct("(")
            path = self.parse_path()
            self.expect_punct(",")
            value = self.parse_literal()
            self.expect_punct(")")
            if not isinstance(value, str):
                raise _Syntax(self.tokens[self.i - 2].pos)
            return StringFunction(name, path, value)
        path = self.parse_path(allow_lambda=True)
        if isinstance(path, AnyLambda):
            return path
        if self.is_word("eq", "ne"):
            op = self.next().text.lower()
            return Compare(path, op, self.parse_literal())
        if self.is_word("in"):
            self.i += 1
            self.expect_punct("(")
            values = [self.parse_literal()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.i += 1
                values.append(self.parse_literal())
            self.expect_punct(")")
            return InList(path, tuple(values))
        raise _Syntax(self.tok.pos)

    def parse_path(self, allow_lambda: bool = False) -> Any:
        if self.tok.kind != "ident":
            raise _Syntax(self.tok.pos)
        parts = [self.next().text]
        while self.tok.kind == "punct" and self.tok.text == "/":
            self.i += 1
            if allow_lambda and self.is_word("any") and self.tokens[self.i + 1].text == "(":
                self.i += 1
                self.expect_punct("(")
                if self.tok.kind != "ident":
                    raise _Syntax(self.tok.pos)
                variable = self.next().text
                self.expect_punct(":")
                body = self.parse_or()
                self.expect_punct(")")
                return AnyLambda(tuple(parts), variable, body)
            if self.tok.kind != "ident":
                raise _Syntax(self.tok.pos)
            parts.append(self.next().text)
        return tuple(parts)

    def parse_literal(self) -> Literal:
        tok = self.next()
        if tok.kind in ("string", "number", "guid"):
            value: Literal = tok.value
            return Guid(value) if tok.kind == "guid" and isinstance(value, str) else value
        if tok.kind == "ident" and tok.text.lower() in ("true", "false"):
            return tok.text.lower() == "true"
        if tok.kind == "ident" and tok.text.lower() == "null":
            return None
        raise _Syntax(tok.pos)


def parse_filter(text: str) -> Node:
    """Parse a ``$filter`` expression, raising Graph's 400 for a malformed one."""
    try:
        return _Parser(text).parse()
    except _Syntax as err:
        if err.unterminated:
            detail = f"There is an unterminated string literal at position {err.pos} in '{text}'."
        else:
            detail = f"Syntax error at position {err.pos} in '{text}'."
        raise GraphError(400, "BadRequest", f"Invalid filter clause: {detail}") from None


# ------------------------------------------------------------------------------------------- checking


def _advanced_operator(op: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", f"Operator '{op}' {_ADVANCED_HINT}")


def _unsupported(rules: ResourceRules, path: tuple[str, ...]) -> GraphError:
    name = "/".join(path)
    return GraphError(
        400,
        "Request_UnsupportedQuery",
        f"Unsupported or invalid query filter clause specified for property '{name}' of resource "
        f"'{rules.resource}'.",
    )


def _unknown(rules: ResourceRules, path: tuple[str, ...]) -> GraphError:
    return GraphError(
        400,
        "BadRequest",
        f"Invalid filter clause: Could not find a property named '{path[-1]}' on type "
        f"'microsoft.graph.{rules.type_name}'.",
    )


def check_filter(node: Node, rules: ResourceRules, *, advanced: bool) -> None:
    """Reject what Graph rejects: unknown properties, unsupported operators, advanced-only use without
    ``ConsistencyLevel: eventual`` and ``$count=true`` (``advanced`` says whether both were sent)."""

    def need(support: Support | None, path: tuple[str, ...], operator: str) -> None:
        if support is None:
            raise _unsupported(rules, path)
        if support is Support.ADVANCED and not advanced:
            if operator in ("eq", "in", "startsWith"):
                # The property itself is only indexed in the advanced store.
                raise _unsupported(rules, path)
            raise _advanced_operator(operator)

    def prop(path: tuple[str, ...]) -> PropertyRules:
        found = rules.lookup(path)
        if found is None:
            raise _unknown(rules, path)
        return found

    def visit(n: Node) -> None:
        if isinstance(n, BoolOp):
            visit(n.left)
            visit(n.right)
        elif isinstance(n, Not):
            if not advanced:
                raise _advanced_operator("not")
            visit(n.operand)
        elif isinstance(n, Compare):
            p = prop(n.path)
            if p.collection:
                raise _unsupported(rules, n.path)
            need(p.eq, n.path, "eq")
            if n.op == "ne" and not advanced:
                raise _advanced_operator("ne")
        elif isinstance(n, InList):
            p = prop(n.path)
            if p.collection:
                raise _unsupported(rules, n.path)
            need(p.eq, n.path, "in")
        elif isinstance(n, StringFunction):
            p = prop(n.path)
            if p.collection:
                raise _unsupported(rules, n.path)
            if n.name == "startswith":
                need(p.starts_with, n.path, "startsWith")
            else:
                need(p.ends_with, n.path, "endsWith")
        else:
            p = prop(n.path)
            if not p.collection:
                raise _unsupported(rules, n.path)
            visit_lambda(n, p)

    def visit_lambda(n: AnyLambda, p: PropertyRules) -> None:
        def inner(m: Node) -> None:
            if isinstance(m, BoolOp):
                inner(m.left)
                inner(m.right)
                return
            if isinstance(m, Not):
                if not advanced:
                    raise _advanced_operator("not")
                inner(m.operand)
                return
            if isinstance(m, AnyLambda) or m.path[0] != n.variable:
                raise _unsupported(rules, n.path)
            rest = m.path[1:]
            if rest and (len(rest) != 1 or rest[0] not in p.element_fields):
                raise _unknown(rules, m.path)
            if not rest and p.element_fields:
                raise _unsupported(rules, n.path)
            if isinstance(m, StringFunction):
                need(p.starts_with if m.name == "startswith" else p.ends_with, n.path, m.name)
            else:
                need(p.eq, n.path, "eq")
                if isinstance(m, Compare) and m.op == "ne" and not advanced:
                    raise _advanced_operator("ne")

        inner(n.body)

    visit(node)


# ----------------------------------------------------------------------------------------- evaluation


def _resolve(obj: Any, path: tuple[str, ...]) -> Any:
    current = obj
    for part in path:
        if not isinstance(current, Mapping):
            return None
        match = next((k for k in current if k.lower() == part.lower()), None)
        current = current.get(match) if match is not None else None
    return current


def _norm(value: Any) -> Any:
    if isinstance(value, Guid):
        return value.value.lower()
    if isinstance(value, str):
        return value.lower()
    return value


def _equal(actual: Any, literal: Literal) -> bool:
    return bool(_norm(actual) == _norm(literal))


def matches(node: Node, obj: Mapping[str, Any], bindings: Mapping[str, Any] | None = None) -> bool:
    """Evaluate a checked filter against one resource's JSON (case-insensitive string comparisons)."""
    env = dict(bindings or {})

    def value_of(path: tuple[str, ...]) -> Any:
        if path[0] in env:
            return _resolve(env[path[0]], path[1:]) if len(path) > 1 else env[path[0]]
        return _resolve(obj, path)

    if isinstance(node, BoolOp):
        if node.op == "and":
            return matches(node.left, obj, env) and matches(node.right, obj, env)
        return matches(node.left, obj, env) or matches(node.right, obj, env)
    if isinstance(node, Not):
        return not matches(node.operand, obj, env)
    if isinstance(node, Compare):
        equal = _equal(value_of(node.path), node.value)
        return equal if node.op == "eq" else not equal
    if isinstance(node, InList):
        actual = value_of(node.path)
        return any(_equal(actual, v) for v in node.values)
    if isinstance(node, StringFunction):
        actual = value_of(node.path)
        if not isinstance(actual, str):
            return False
        if node.name == "startswith":
            return actual.lower().startswith(node.value.lower())
        return actual.lower().endswith(node.value.lower())
    items = value_of(node.path) or []
    return any(matches(node.body, obj, {**env, node.variable: item}) for item in items)
