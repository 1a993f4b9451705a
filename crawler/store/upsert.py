"""Insert-if-absent that holds under concurrent writers (SQLite and PostgreSQL).

Several crawler processes may meet the same identifier or advert at once.
``INSERT … ON CONFLICT DO NOTHING`` followed by a read of the row is safe on
both engines: the unique constraint decides, and the loser reads the winner's
row instead of creating a duplicate or failing.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from crawler.store.prepared import Prepared


def dialect_insert(dialect: str) -> Any:
    """The engine's own INSERT construct (it has ``on_conflict_do_nothing``)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other engines are not supported for writing
        raise NotImplementedError(f"no upsert for {dialect}")
    return insert


@functools.cache
def _statements(
    dialect: str, table: Any, keys: tuple[str, ...], columns: tuple[str, ...]
) -> tuple[Prepared, Prepared]:
    """Built once per shape: on SQLite, building and executing a Core statement
    costs more than the SQL, and these run several times per captured page."""
    insert = dialect_insert(dialect)
    create = (
        insert(table)
        .values({c: bindparam(c) for c in columns})
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c.id)
    )
    find = select(table.c.id).where(*[table.c[k] == bindparam(k) for k in keys])
    return Prepared(create, columns), Prepared(find, keys)


def get_or_create_id(
    session: Session, model: Any, keys: dict[str, Any], values: dict[str, Any] | None = None
) -> tuple[int, bool]:
    """The id of the row matching ``keys``, inserting it with ``values`` if absent.

    Returns ``(id, created)``. ``keys`` must be exactly the columns of a unique
    constraint of ``model``. Column defaults of the model are applied by Core.
    """
    params = {**keys, **(values or {})}
    create, find = _statements(
        session.get_bind().dialect.name, model.__table__, tuple(keys), tuple(sorted(params))
    )
    created_id = create.scalar(session, params)
    if created_id is not None:
        return int(created_id), True
    found = find.scalar(session, keys)
    if found is None:  # pragma: no cover - the conflict that stopped the insert is this row
        raise LookupError(f"{model.__tablename__}: no row for {keys} after a conflict")
    return int(found), False
