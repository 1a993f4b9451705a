"""Crawl operations for technical staff: platforms' health, crawls, schedules, watchlists.

Reading needs ``ops.view``; changing a schedule ``schedules.manage``, a
watchlist ``watchlists.manage`` (crawler/workbench/roles.py). Every change
is a POST checked for its CSRF token and permission before it runs
(:func:`crawler.workbench.web.action`), goes through the same function as the
matching ``adarchive schedule|watch`` command, and is an audit event.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crawler.schedule.intervals import ScheduleError, describe, parse_every
from crawler.schedule.schedules import add_schedule, remove_schedules, set_enabled
from crawler.schedule.watchlist import WatchError, add_watches, remove_watch, scan
from crawler.store.models import Schedule, Watch
from crawler.workbench import audit, opsdata
from crawler.workbench.sessions import Login
from crawler.workbench.web import action, not_found, page, render

MAX_FIELD = 512


def _view(db: Session, login: Login, what: str) -> None:
    audit.append(db, login.name, "ops.view", f"ops:{what}", {})


# -- crawls ----------------------------------------------------------------------


@page("ops.view")
def crawls_page(request: Request, db: Session, login: Login) -> Response:
    report = opsdata.crawls(db)
    _view(db, login, "crawls")
    return render(request, "ops_crawls.html", login, title="Crawls", report=report)


# -- platforms and their definitions' health ----------------------------------------


@page("ops.view")
def platforms_health_page(request: Request, db: Session, login: Login) -> Response:
    rows = opsdata.platform_health(db)
    _view(db, login, "platforms")
    return render(request, "ops_platforms.html", login, title="Platform health", rows=rows,
                  folder=str(opsdata.definitions_dir()))  # fmt: skip


# -- schedules -------------------------------------------------------------------


def _schedules(request: Request, db: Session, login: Login, status: int = 200,
               errors: list[str] | None = None, message: str = "",
               form: dict[str, str] | None = None) -> Response:  # fmt: skip
    return render(request, "ops_schedules.html", login, status=status, title="Schedules",
                  schedules=opsdata.schedules(db), platforms=opsdata.platform_names(),
                  errors=errors or [], message=message, form=form or {})  # fmt: skip


@page("ops.view")
def schedules_page(request: Request, db: Session, login: Login) -> Response:
    _view(db, login, "schedules")
    return _schedules(request, db, login)


@action("schedules.manage")
def schedule_add(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    platform = form.get("platform", "")
    every, cron = form.get("every", "").strip()[:64], form.get("cron", "").strip()[:128]
    try:
        if platform not in opsdata.platform_names():
            raise ScheduleError(f"unknown platform {platform[:64]!r}")
        if bool(every) == bool(cron):
            raise ScheduleError("give either an interval (every) or a cron expression, not both")
        seconds = parse_every(every) if every else None
        schedule = add_schedule(db, platform, every_seconds=seconds, cron=cron or None)
    except ScheduleError as exc:
        db.rollback()
        return _schedules(request, db, login, 400, errors=[str(exc).replace("--", "")],
                          form=form)  # fmt: skip
    when = describe(schedule.every_seconds, schedule.cron)
    audit.append(db, login.name, "schedule.add", f"schedule:{schedule.id}",
                 {"platform": platform, "every_seconds": seconds, "cron": cron or None})  # fmt: skip
    return _schedules(
        request, db, login, message=f"Schedule {schedule.id} added: {platform} {when}."
    )


def _change(request: Request, db: Session, login: Login, verb: str) -> Response:
    schedule_id = request.path_params["schedule_id"]
    schedule = db.get(Schedule, schedule_id)
    if schedule is None:
        return not_found(request, login, f"There is no schedule {schedule_id}.")
    platform = schedule.platform
    if verb == "remove":
        remove_schedules(db, str(schedule_id))
    else:
        set_enabled(db, schedule_id, verb == "resume")
    audit.append(db, login.name, f"schedule.{verb}", f"schedule:{schedule_id}",
                 {"platform": platform})  # fmt: skip
    done = {"pause": "paused", "resume": "resumed", "remove": "removed"}[verb]
    return _schedules(request, db, login, message=f"Schedule {schedule_id} ({platform}) {done}.")


@action("schedules.manage")
def schedule_pause(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    return _change(request, db, login, "pause")


@action("schedules.manage")
def schedule_resume(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    return _change(request, db, login, "resume")


@action("schedules.manage")
def schedule_remove(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    return _change(request, db, login, "remove")


# -- watchlists ------------------------------------------------------------------


def _watch(request: Request, db: Session, login: Login, status: int = 200,
           errors: list[str] | None = None, message: str = "",
           form: dict[str, str] | None = None) -> Response:  # fmt: skip
    watches, found = opsdata.watchlists(db)
    return render(request, "ops_watch.html", login, status=status, title="Watchlists",
                  watches=watches, hits=found, errors=errors or [], message=message,
                  form=form or {})  # fmt: skip


@page("ops.view")
def watch_page(request: Request, db: Session, login: Login) -> Response:
    _view(db, login, "watch")
    return _watch(request, db, login)


@action("watchlists.manage")
def watch_add(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    text = form.get("identifier", "").strip()[:MAX_FIELD]
    kind = form.get("kind", "").strip()[:16] or None
    region = form.get("region", "").strip().upper()[:2] or None
    note = form.get("note", "").strip()[:MAX_FIELD] or None
    try:
        if not text:
            raise WatchError("give an identifier to watch")
        added: list[tuple[Any, bool]] = add_watches(db, [text], kind, region, note)
    except WatchError as exc:
        db.rollback()
        return _watch(request, db, login, 400, errors=[str(exc)], form=form)
    watch, created = added[0]
    audit.append(db, login.name, "watch.add" if created else "watch.exists", f"watch:{watch.id}",
                 {"kind": watch.kind, "value": watch.value, "note": note})  # fmt: skip
    said = "Watching" if created else "Already watching"
    return _watch(request, db, login, message=f"{said} {watch.kind} {watch.value}.")


@action("watchlists.manage")
def watch_remove(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    watch_id = request.path_params["watch_id"]
    watch = db.get(Watch, watch_id)
    if watch is None:
        return not_found(request, login, f"There is no watch {watch_id}.")
    kind, value = watch.kind, watch.value
    remove_watch(db, str(watch_id))
    audit.append(db, login.name, "watch.remove", f"watch:{watch_id}",
                 {"kind": kind, "value": value})  # fmt: skip
    return _watch(request, db, login, message=f"No longer watching {kind} {value}.")


@action("watchlists.manage")
def watch_scan(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    new = scan(db)
    audit.append(db, login.name, "watch.scan", "watch", {"new_hits": len(new)})
    return _watch(request, db, login, message=f"Scanned the store: {len(new)} new hit(s).")


ROUTES = [
    Route("/ops", crawls_page),
    Route("/ops/platforms", platforms_health_page),
    Route("/ops/schedules", schedules_page, methods=["GET"]),
    Route("/ops/schedules", schedule_add, methods=["POST"]),
    Route("/ops/schedules/{schedule_id:int}/pause", schedule_pause, methods=["POST"]),
    Route("/ops/schedules/{schedule_id:int}/resume", schedule_resume, methods=["POST"]),
    Route("/ops/schedules/{schedule_id:int}/remove", schedule_remove, methods=["POST"]),
    Route("/ops/watch", watch_page, methods=["GET"]),
    Route("/ops/watch", watch_add, methods=["POST"]),
    Route("/ops/watch/scan", watch_scan, methods=["POST"]),
    Route("/ops/watch/{watch_id:int}/remove", watch_remove, methods=["POST"]),
]
