"""What is crawling now and what crawled lately (``adarchive status``)."""

from __future__ import annotations

import json
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.printable import printable
from crawler.procs import pid_alive
from crawler.schedule.intervals import describe, format_seconds
from crawler.schedule.progressbar import bar
from crawler.store.models import (
    Crawl,
    CrawlProgress,
    Platform,
    Schedule,
    ScheduleRun,
    utc,
    utcnow,
)


def _rate(pages: int, seconds: float) -> float:
    return pages / seconds if seconds > 0 else 0.0


def _row(session: Session, crawl: Crawl, platform: str, now: datetime) -> dict[str, Any]:
    started = utc(crawl.started_at) or now
    running = crawl.status == "running"
    progress = session.get(CrawlProgress, crawl.id) if running else None
    pages, ads, errors, pending = crawl.pages, crawl.ads, crawl.errors, 0
    updated = None
    if progress is not None:
        pages, ads, errors, pending = (
            progress.pages,
            progress.ads,
            progress.errors,
            progress.pending,
        )
        updated = utc(progress.updated_at)
    end = now if running else (utc(crawl.finished_at) or now)
    seconds = max((end - started).total_seconds(), 0.0)
    alive = None
    if running and crawl.host == socket.gethostname():
        alive = pid_alive(crawl.pid)
    run_id = session.scalar(select(ScheduleRun.id).where(ScheduleRun.crawl_id == crawl.id))
    return {
        "crawl": crawl.id,
        "platform": platform,
        "status": crawl.status,
        "started_at": started,
        "finished_at": utc(crawl.finished_at),
        "seconds": round(seconds, 1),
        "pages": pages,
        "ads": ads,
        "new_ads": crawl.new_ads,
        "errors": errors,
        "pending": pending,
        "rate": round(_rate(pages, seconds), 2),
        "host": crawl.host,
        "pid": crawl.pid,
        "process_alive": alive,
        "progress_at": updated,
        "schedule_run": run_id,
        "state": crawl.state,
        "drift": json.loads(crawl.drift_json)["departures"] if crawl.drift_json else [],
    }


def status_report(session: Session, recent: int = 10) -> dict[str, Any]:
    """Running crawls (with live progress), the latest finished ones, and the schedules."""
    now = utcnow()
    base = select(Crawl, Platform.name).join(Platform, Platform.id == Crawl.platform_id)
    running = [
        _row(session, c, name, now)
        for c, name in session.execute(base.where(Crawl.status == "running").order_by(Crawl.id))
    ]
    done = [
        _row(session, c, name, now)
        for c, name in session.execute(
            base.where(Crawl.status != "running").order_by(Crawl.id.desc()).limit(recent)
        )
    ]
    schedules = [
        {
            "id": s.id,
            "platform": s.platform,
            "when": describe(s.every_seconds, s.cron),
            "enabled": s.enabled,
            "next_run": utc(s.next_run),
        }
        for s in session.scalars(select(Schedule).order_by(Schedule.next_run, Schedule.id))
    ]
    return {"at": now, "running": running, "recent": done, "schedules": schedules}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def running_lines(report: dict[str, Any]) -> list[str]:
    """One progress line per running crawl (the bar counts pages of pages + backlog)."""
    lines = []
    for r in report["running"]:
        total = r["pages"] + r["pending"]
        note = "" if r["process_alive"] is not False else "  (process gone: crawl interrupted)"
        lines.append(
            f"#{r['crawl']:<5} {r['platform']:<16} {bar(r['pages'], total or None)} "
            f"{r['pages']:>6} pages {r['ads']:>5} ads {r['rate']:>7.1f} p/s "
            f"{r['errors']:>3} errors  {format_seconds(r['seconds'])}{note}"
        )
    return lines or ["(no crawl running)"]


def render(report: dict[str, Any]) -> list[str]:
    lines = [f"status at {_when(report['at'])} UTC", "", "running:"]
    lines += ["  " + line for line in running_lines(report)]
    lines += ["", "recent:"]
    if report["recent"]:
        header = ("crawl", "platform", "started (UTC)", "took", "pages", "ads", "new", "errors",
                  "p/s", "status")  # fmt: skip
        rows = [
            (
                r["crawl"],
                r["platform"],
                _when(r["started_at"]),
                format_seconds(r["seconds"]),
                r["pages"],
                r["ads"],
                r["new_ads"],
                r["errors"],
                f"{r['rate']:.1f}",
                (r["state"] or r["status"])
                + (" DRIFTING" if r["drift"] else "")
                + (f" (run {r['schedule_run']})" if r["schedule_run"] else ""),
            )
            for r in report["recent"]
        ]
        lines += ["  " + line for line in table(header, rows)]
        for r in report["recent"]:
            lines += [f"  crawl {r['crawl']} drifts: {d}" for d in r["drift"]]
    else:
        lines.append("  (no crawl yet)")
    if report["schedules"]:
        lines += ["", "schedules:"]
        rows = [
            (
                s["id"],
                s["platform"],
                s["when"],
                "yes" if s["enabled"] else "no",
                _when(s["next_run"]),
            )
            for s in report["schedules"]
        ]
        lines += ["  " + line for line in table(("id", "platform", "when", "on", "next"), rows)]
    return lines


def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    cells = [list(map(str, header))] + [[printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for n, row in enumerate(cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
