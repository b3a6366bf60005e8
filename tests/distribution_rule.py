"""The rule that keeps geo311's queries ready for Citus (docs/scaling.md): report-side tables are
distributed by jurisdiction_id, so a query that links two of them (a join, a correlated subquery,
an IN) must also match their jurisdiction_id, or Citus cannot run it as a co-located join.

`violations(sql)` reads a statement with PostgreSQL's own parser (pglast) and names every link
between two distributed relations that lacks the jurisdiction_id match. tests/conftest.py checks
every statement the test suite runs; tests/test_distribution.py tests the checker and tours the
hot paths.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import count
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import SubLinkType
from pglast.parser import ParseError

#: a statement that says so in a comment is not checked (a migration's one-time backfill)
EXEMPT_MARK = "distribution rule: exempt"
DISTRIBUTED = frozenset({"reports", "submissions", "report_events", "report_districts", "submission_photos"})
COLUMN = "jurisdiction_id"

# a relation in a scope: (scope number, alias) -> table name
Ref = tuple[int, str]


class _Walker:
    def __init__(self) -> None:
        self.links: dict[frozenset[Ref], str] = {}     # pairs linked on some other column -> example
        self.matched: set[frozenset[Ref]] = set()       # pairs whose jurisdiction_id are matched
        self.problems: list[str] = []
        self._ids = count()

    # ----- scopes ---------------------------------------------------------------------------
    def _relations(self, node: Any, scope_id: int, out: dict[str, tuple[Ref, str]]) -> None:
        if isinstance(node, ast.RangeVar):
            alias = node.alias.aliasname if node.alias else node.relname
            out[alias] = ((scope_id, alias), node.relname)
        elif isinstance(node, ast.JoinExpr):
            self._relations(node.larg, scope_id, out)
            self._relations(node.rarg, scope_id, out)

    def statement(self, node: Any, outer: list[dict[str, tuple[Ref, str]]]) -> None:
        scope_id = next(self._ids)
        own: dict[str, tuple[Ref, str]] = {}
        if isinstance(node, ast.SelectStmt):
            for item in node.fromClause or ():
                self._relations(item, scope_id, own)
        elif isinstance(node, ast.UpdateStmt):
            self._relations(node.relation, scope_id, own)
            for item in node.fromClause or ():
                self._relations(item, scope_id, own)
        elif isinstance(node, ast.DeleteStmt):
            self._relations(node.relation, scope_id, own)
            for item in node.usingClause or ():
                self._relations(item, scope_id, own)
        scopes = [own, *outer]
        self._visit_children(node, scopes)

    # ----- expressions ----------------------------------------------------------------------
    def _resolve(self, ref: ast.ColumnRef, scopes: list[dict[str, tuple[Ref, str]]]) -> tuple[Ref, str, str] | None:
        names = [f.sval for f in ref.fields if isinstance(f, ast.String)]
        if len(names) == 2:
            for scope in scopes:
                if names[0] in scope:
                    key, table = scope[names[0]]
                    return (key, table, names[1]) if table in DISTRIBUTED else None
            return None
        if len(names) == 1:  # unqualified: the innermost scope's only distributed relation
            for scope in scopes:
                tables = [(key, table) for key, table in scope.values() if table in DISTRIBUTED]
                if scope:
                    return (tables[0][0], tables[0][1], names[0]) if len(tables) == 1 and len(scope) == 1 else None
        return None

    def _equality(self, node: ast.A_Expr, scopes: list[dict[str, tuple[Ref, str]]]) -> None:
        if not (isinstance(node.lexpr, ast.ColumnRef) and isinstance(node.rexpr, ast.ColumnRef)):
            return
        left, right = self._resolve(node.lexpr, scopes), self._resolve(node.rexpr, scopes)
        if left is None or right is None or left[0] == right[0]:
            return
        pair = frozenset((left[0], right[0]))
        if left[2] == COLUMN and right[2] == COLUMN:
            self.matched.add(pair)
        else:
            self.links.setdefault(pair, f"{left[0][1]}.{left[2]} = {right[0][1]}.{right[2]}")

    def _in_subquery(self, node: ast.SubLink, scopes: list[dict[str, tuple[Ref, str]]]) -> None:
        """`x.report_id IN (SELECT report_id FROM report_districts ...)` links two distributed tables
        without their jurisdiction_id; `(x.jurisdiction_id, x.id) IN (SELECT jurisdiction_id, ...)` does not."""
        test = node.testexpr
        if not isinstance(test, ast.ColumnRef):
            return
        outer = self._resolve(test, scopes)
        sub = node.subselect
        inner: dict[str, tuple[Ref, str]] = {}
        for item in getattr(sub, "fromClause", None) or ():
            self._relations(item, -1, inner)
        if outer is not None and any(table in DISTRIBUTED for _, table in inner.values()):
            self.problems.append(f"{outer[0][1]}.{outer[2]} IN (SELECT ... FROM "
                                 f"{', '.join(t for _, t in inner.values())}) without {COLUMN}")

    def _visit_children(self, node: Any, scopes: list[dict[str, tuple[Ref, str]]]) -> None:
        if isinstance(node, tuple | list):
            for item in node:
                self._visit_children(item, scopes)
            return
        if not isinstance(node, ast.Node):
            return
        for name in node:  # the node's attribute names
            child = getattr(node, name)
            if isinstance(child, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt):
                self.statement(child, scopes)
                continue
            if isinstance(child, ast.InsertStmt):
                self._visit_children(child, scopes)
                continue
            if isinstance(child, ast.A_Expr) and child.name and getattr(child.name[-1], "sval", None) == "=":
                self._equality(child, scopes)
            if isinstance(child, ast.SubLink) and child.subLinkType == SubLinkType.ANY_SUBLINK:
                self._in_subquery(child, scopes)
            self._visit_children(child, scopes)


@lru_cache(maxsize=20000)
def violations(sql: str) -> tuple[str, ...]:
    """The links between distributed relations in `sql` that lack the jurisdiction_id match."""
    if EXEMPT_MARK in sql:
        return ()
    try:
        statements = parse_sql(sql)
    except ParseError:
        return ()
    found: list[str] = []
    for raw in statements:
        walker = _Walker()
        stmt = raw.stmt
        if isinstance(stmt, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt):
            walker.statement(stmt, [])
        elif isinstance(stmt, ast.InsertStmt):
            walker._visit_children(stmt, [])
        found += walker.problems
        found += [f"{example} without {COLUMN}" for pair, example in walker.links.items() if pair not in walker.matched]
    return tuple(found)
