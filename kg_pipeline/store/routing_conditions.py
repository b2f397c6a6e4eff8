"""The routing condition language: what a rule's condition may say about a chunk's analysis
(kg_pipeline/corpus/analysis.py), checked when a rule is built and walked when a chunk is routed.

Conditions are a small expression language, not Python: ``complexity == "complex" and
word_count > 500``. They are parsed with ``ast`` and walked by the evaluator below; only
comparisons of analysis fields with constants, ``and``/``or``/``not`` and ``in`` with a list of
constants are accepted, so a rule typed into the CLI (or the database) can never run code. It sits
with the rules table (store/routing.py) because every stored rule is checked against it first.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from kg_pipeline.corpus.analysis import ChunkAnalysis, Complexity, ContentType
from kg_pipeline.errors import KgError

MAX_CONDITION_CHARS = 1000

# Label fields compare with == / != / in against their allowed values; the rest are numbers.
LABEL_FIELDS: dict[str, tuple[str, ...]] = {
    "complexity": get_args(Complexity),
    "content_type": get_args(ContentType),
}
NUMBER_FIELDS = tuple(name for name in ChunkAnalysis.model_fields if name not in LABEL_FIELDS)

_COMPARISONS: dict[type[ast.cmpop], tuple[str, Callable[[Any, Any], bool]]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.In: ("in", lambda a, b: a in b),
    ast.NotIn: ("not in", lambda a, b: a not in b),
}
# What a person typed, in their words, for the error message.
_FORBIDDEN = {
    ast.Call: "a function call",
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.BinOp: "arithmetic",
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.JoinedStr: "an f-string",
}

GUIDE = (
    "a condition compares chunk-analysis fields ("
    + ", ".join((*LABEL_FIELDS, *NUMBER_FIELDS))
    + ") with numbers or quoted strings using ==, !=, <, <=, >, >=, in and not in (with a list "
    "of constants), combined with and, or, not; e.g. "
    '\'complexity == "complex" or content_type in ("code", "table")\''
)


class RoutingError(KgError, ValueError):
    """A rule or condition that cannot be stored or used; the message says how to fix it."""


class ConditionError(RoutingError):
    """A condition outside the routing language."""


@dataclass(frozen=True)
class Condition:
    """A parsed, checked condition; ``matches`` walks the tree (nothing is compiled or run)."""

    text: str
    tree: ast.expr

    def matches(self, analysis: ChunkAnalysis) -> bool:
        return _holds(self.tree, analysis.model_dump())


@functools.lru_cache(maxsize=256)
def parse_condition(text: str) -> Condition:
    """Parse and check ``text``; raises ``ConditionError`` naming what is not allowed."""
    source = text.strip()
    if not source:
        raise ConditionError(f"the condition is empty; {GUIDE}")
    if len(source) > MAX_CONDITION_CHARS:
        raise ConditionError(f"the condition is over {MAX_CONDITION_CHARS} characters")
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ConditionError(f"{source!r} is not an expression ({exc.msg}); {GUIDE}") from None
    _check_test(tree, source)
    return Condition(source, tree)


def _reject(node: ast.AST, source: str) -> ConditionError:
    what = next(
        (name for kind, name in _FORBIDDEN.items() if isinstance(node, kind)),
        f"{type(node).__name__} ({ast.unparse(node)!r})",
    )
    return ConditionError(f"in {source!r}, {what} is not allowed; {GUIDE}")


def _check_test(node: ast.expr, source: str) -> None:
    """A test: a comparison, or tests joined with and/or, or a negated test."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_test(value, source)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_test(node.operand, source)
    elif isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for left, op, right in zip(operands, node.ops, operands[1:], strict=False):
            _check_comparison(left, op, right, source)
    elif isinstance(node, ast.Name | ast.Constant):
        raise ConditionError(f"in {source!r}, {ast.unparse(node)!r} alone is not a test; {GUIDE}")
    else:
        raise _reject(node, source)


def _field(node: ast.expr, source: str) -> str | None:
    """The field a Name refers to (None for a constant); anything else is rejected."""
    if isinstance(node, ast.Name):
        if node.id not in LABEL_FIELDS and node.id not in NUMBER_FIELDS:
            raise ConditionError(f"in {source!r}, unknown field {node.id!r}; {GUIDE}")
        return node.id
    if isinstance(node, ast.Constant) and type(node.value) in (str, int, float):
        return None
    if isinstance(node, ast.Constant):
        raise ConditionError(
            f"in {source!r}, the constant {node.value!r} is not a number or a string"
        )
    raise _reject(node, source)


def _check_value(field: str, value: object, source: str) -> None:
    if field in LABEL_FIELDS:
        allowed = LABEL_FIELDS[field]
        if value not in allowed:
            raise ConditionError(
                f"in {source!r}, {field} is one of {', '.join(map(repr, allowed))}; got {value!r}"
            )
    elif type(value) not in (int, float):
        raise ConditionError(f"in {source!r}, {field} is a number; got {value!r}")


def _check_comparison(left: ast.expr, op: ast.cmpop, right: ast.expr, source: str) -> None:
    if type(op) not in _COMPARISONS:
        raise ConditionError(f"in {source!r}, 'is' and 'is not' are not allowed; {GUIDE}")
    symbol = _COMPARISONS[type(op)][0]
    field = _field(left, source)
    if isinstance(op, ast.In | ast.NotIn):
        if field is None or not isinstance(right, ast.Tuple | ast.List) or not right.elts:
            raise ConditionError(
                f"in {source!r}, '{symbol}' takes a field on the left and a list of "
                f'constants on the right, e.g. content_type in ("code", "table")'
            )
        for element in right.elts:
            if _field(element, source) is not None:
                raise ConditionError(
                    f"in {source!r}, the list after '{symbol}' holds constants only"
                )
            _check_value(field, _constant(element), source)
        return
    other = _field(right, source)
    if field is None and other is None:
        raise ConditionError(f"in {source!r}, two constants are compared; {GUIDE}")
    labels = [f for f in (field, other) if f in LABEL_FIELDS]
    if labels and (field is not None and other is not None):
        raise ConditionError(f"in {source!r}, compare {labels[0]} with a quoted value")
    if labels and symbol not in ("==", "!="):
        raise ConditionError(
            f"in {source!r}, {labels[0]} is a label; use == or != (or in) with it, not {symbol}"
        )
    if field is not None and other is None:
        _check_value(field, _constant(right), source)
    elif other is not None and field is None:
        _check_value(other, _constant(left), source)


def _constant(node: ast.expr) -> object:
    assert isinstance(node, ast.Constant)  # _field admitted only names and constants
    return node.value


def _value(node: ast.expr, values: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_value(element, values) for element in node.elts)
    assert isinstance(node, ast.Constant)  # parse_condition admitted nothing else
    return node.value


def _holds(node: ast.expr, values: dict[str, Any]) -> bool:
    if isinstance(node, ast.BoolOp):
        tests = (_holds(value, values) for value in node.values)
        return all(tests) if isinstance(node.op, ast.And) else any(tests)
    if isinstance(node, ast.UnaryOp):
        return not _holds(node.operand, values)
    assert isinstance(node, ast.Compare)
    left = _value(node.left, values)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _value(comparator, values)
        if not _COMPARISONS[type(op)][1](left, right):
            return False
        left = right
    return True
