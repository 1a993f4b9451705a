"""Insert-if-absent that holds under concurrent writers (SQLite and PostgreSQL).

Several crawler processes may meet the same identifier or advert at once.
``INSERT … ON CONFLICT DO NOTHING`` followed by a read of the row is safe on
both engines: the unique constraint decides, and the loser reads the winner's
row instead of creating a duplicate or failing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other engines are not supported for writing
        raise NotImplementedError(f"no upsert for {dialect}")
    return insert(table)


def get_or_create_id(
    session: Session, model: Any, keys: dict[str, Any], values: dict[str, Any] | None = None
) -> tuple[int, bool]:
    """The id of the row matching ``keys``, inserting it with ``values`` if absent.

    Returns ``(id, created)``. ``keys`` must be exactly the columns of a unique
    constraint of ``model``.
    """
    table = model.__table__
    stmt = (
        _insert(session, table)
        .values(**keys, **(values or {}))
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c.id)
    )
    created_id = session.execute(stmt).scalar()
    if created_id is not None:
        return int(created_id), True
    where = [getattr(model, k) == v for k, v in keys.items()]
    return int(session.execute(select(model.id).where(*where)).scalar_one()), False
