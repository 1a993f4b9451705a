"""Schedules in the store: add, list, remove (``adarchive schedule …``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crawler.schedule.intervals import ScheduleError, check_cron, describe, next_after
from crawler.store.models import Schedule, ScheduleRun, utc, utcnow


def add_schedule(
    session: Session,
    platform: str,
    *,
    every_seconds: float | None = None,
    cron: str | None = None,
    first_run: datetime | None = None,
) -> Schedule:
    """A new enabled schedule, first due at ``first_run`` (default: now)."""
    if (every_seconds is None) == (cron is None):
        raise ScheduleError("give exactly one of --every and --cron")
    if cron is not None:
        check_cron(cron)
    same = select(Schedule).where(
        Schedule.platform == platform,
        Schedule.cron == cron if cron is not None else Schedule.every_seconds == every_seconds,
    )
    existing = session.scalars(same).first()
    if existing is not None:  # a second identical schedule would run every crawl twice
        raise ScheduleError(
            f"{platform} already has schedule {existing.id} "
            f"({describe(existing.every_seconds, existing.cron)}); to change it, "
            f"`adarchive schedule remove {existing.id}` and add again"
        )
    schedule = Schedule(
        platform=platform,
        every_seconds=every_seconds,
        cron=cron,
        enabled=True,
        # An interval starts now; a cron schedule at its next matching time.
        next_run=first_run or (next_after(utcnow(), cron=cron) if cron else utcnow()),
        created_at=utcnow(),
    )
    session.add(schedule)
    session.commit()
    return schedule


def list_schedules(session: Session) -> list[dict[str, Any]]:
    """Every schedule with its last run, for ``schedule list``."""
    last_ids = dict(
        session.execute(
            select(ScheduleRun.schedule_id, func.max(ScheduleRun.id)).group_by(
                ScheduleRun.schedule_id
            )
        ).all()
    )
    out = []
    for s in session.scalars(select(Schedule).order_by(Schedule.id)):
        last = session.get(ScheduleRun, last_ids[s.id]) if s.id in last_ids else None
        out.append(
            {
                "id": s.id,
                "platform": s.platform,
                "when": describe(s.every_seconds, s.cron),
                "every_seconds": s.every_seconds,
                "cron": s.cron,
                "enabled": s.enabled,
                "next_run": utc(s.next_run),
                "last_run": utc(s.last_run),
                "last_status": last.status if last else None,
            }
        )
    return out


def remove_schedules(session: Session, ref: str) -> int:
    """Remove a schedule by id, or every schedule of a platform; runs keep their history."""
    if ref.isdigit():
        ids = [int(ref)] if session.get(Schedule, int(ref)) is not None else []
    else:
        ids = list(session.scalars(select(Schedule.id).where(Schedule.platform == ref)))
    if not ids:
        return 0
    session.execute(
        update(ScheduleRun).where(ScheduleRun.schedule_id.in_(ids)).values(schedule_id=None)
    )
    for schedule_id in ids:
        row = session.get(Schedule, schedule_id)
        if row is not None:
            session.delete(row)
    session.commit()
    return len(ids)


def set_enabled(session: Session, schedule_id: int, enabled: bool) -> Schedule | None:
    """Pause (``enabled=False``) or resume a schedule; None when there is no such schedule.

    A paused schedule keeps its place and history; the scheduler only starts
    enabled ones. A resumed schedule that fell due while paused runs at the
    next tick, once.
    """
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        return None
    schedule.enabled = enabled
    session.commit()
    return schedule
