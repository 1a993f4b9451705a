"""Hot-path statements: compiled once per dialect, run on the session's DBAPI cursor.

A crawl makes a handful of one-row writes per page (three capture rows, the
ad, its sighting, its identifiers). On SQLite, SQLAlchemy's Core execution
machinery costs more than the SQL itself, and the crawl runs on one core, so
these few statements skip it: a :class:`Prepared` statement is an ordinary
Core construct, compiled once per dialect, whose bind and result processors
(SQLite keeps datetimes as text) are looked up once, and which runs on the
same DBAPI connection, hence in the same transaction, as the session.

Everything else in the code base uses the session as usual. A Prepared insert
applies the table's Python-side scalar and callable column defaults to omitted
columns, as Core would; a default it cannot apply is an error when the
statement is built, never a silent NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Insert

Processor = Callable[[Any], Any] | None


# How a parameter gets its value (see Prepared._params).
AS_GIVEN, PROCESSED, CONSTANT, DEFAULTED = range(4)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]
    """Parameter names in placeholder order (positional) or once each (named)."""
    steps: tuple[tuple[str, int, Any], ...]
    """(name, how, argument) per entry of ``names``, worked out once."""
    results: tuple[Processor, ...]
    """Result processors of the returned columns, in order."""


class Prepared:
    """A Core statement run straight on the DBAPI cursor of a session's connection.

    ``keys`` names the parameters every call supplies (for an INSERT without
    ``values()``: the columns to insert).
    """

    def __init__(self, statement: Any, keys: Iterable[str]) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self._compiled: dict[str, _Compiled] = {}
        self.defaults: dict[str, Callable[[], Any]] = {}
        if isinstance(statement, Insert):
            for column in statement.table.columns:
                if column.key in self.keys or column.default is None:
                    continue
                self.defaults[column.key] = _default_factory(column)
            self.keys += tuple(self.defaults)

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(self.keys))
        keys = set(self.keys)
        how: dict[str, tuple[int, Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if name in self.defaults:
                how[name] = (DEFAULTED, (self.defaults[name], process))
            elif name in keys:
                how[name] = (AS_GIVEN, None) if process is None else (PROCESSED, process)
            elif bind.effective_value is not None:  # bound in the statement itself
                value = bind.effective_value
                how[name] = (CONSTANT, process(value) if process is not None else value)
            else:
                raise ValueError(f"statement needs a parameter not in keys: {name}")
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else tuple(how)
        columns = getattr(self.statement, "selected_columns", None)
        if isinstance(self.statement, Insert) or columns is None:
            columns = getattr(self.statement, "_returning", ()) or ()
        results = tuple(
            getattr(c, "type", None)
            and c.type.dialect_impl(dialect).result_processor(dialect, None)
            for c in columns
        )
        return _Compiled(
            sql=compiled.string,
            positional=positional,
            names=names,
            steps=tuple((name, *how[name]) for name in names),
            results=results,
        )

    # -- running ----------------------------------------------------------

    def _cursor_and_plan(self, session: Session) -> tuple[Any, _Compiled]:
        connection = session.connection()
        plan = self.compiled(connection.dialect)
        return connection.connection.driver_connection.cursor(), plan

    @staticmethod
    def _params(plan: _Compiled, params: Mapping[str, Any]) -> Any:
        values = []
        for name, how, argument in plan.steps:
            if how == AS_GIVEN:
                value = params[name]
            elif how == PROCESSED:
                value = params[name]
                if value is not None:
                    value = argument(value)
            elif how == CONSTANT:
                value = argument
            else:  # DEFAULTED
                default, process = argument
                value = params[name] if name in params else default()
                if process is not None and value is not None:
                    value = process(value)
            values.append(value)
        if plan.positional:
            return values
        return dict(zip(plan.names, values, strict=True))

    def execute(self, session: Session, params: Mapping[str, Any]) -> None:
        cursor, plan = self._cursor_and_plan(session)
        try:
            cursor.execute(plan.sql, self._params(plan, params))
        finally:
            cursor.close()

    def executemany(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        cursor, plan = self._cursor_and_plan(session)
        try:
            cursor.executemany(plan.sql, [self._params(plan, row) for row in rows])
        finally:
            cursor.close()

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple | None:
        """The first row (result processors applied), or None."""
        cursor, plan = self._cursor_and_plan(session)
        try:
            cursor.execute(plan.sql, self._params(plan, params))
            row = cursor.fetchone()
            if row is not None:
                # Drain RETURNING results so SQLite finishes the statement.
                cursor.fetchall()
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(
            process(value) if process is not None and value is not None else value
            for process, value in zip(plan.results, row, strict=False)
        ) + tuple(row[len(plan.results) :])

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.first(session, params)
        return None if row is None else row[0]


def _default_factory(column: Any) -> Callable[[], Any]:
    """A zero-argument function giving a column's Python-side default."""
    default = column.default
    if getattr(default, "is_scalar", False):
        value = default.arg
        return lambda: value
    if getattr(default, "is_callable", False):
        # SQLAlchemy wraps the model's function to take an execution context;
        # the defaults of this code base never look at it.
        function = default.arg
        return lambda: function(None)
    raise ValueError(f"cannot apply the default of {column.table.name}.{column.key} outside Core")
