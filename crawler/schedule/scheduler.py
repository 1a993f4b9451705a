"""The scheduler: starts due crawls as subprocesses, one run per platform at a time.

State lives in the store, so the scheduler can stop and start again:

* a schedule's ``next_run`` says when it is due; starting a run moves it on;
* a ``schedule_run`` row is written before the crawl starts, and its
  ``running_platform`` column (unique, NULL once the run ends) is the lock that
  keeps two runs of one platform apart, even between scheduler processes;
* crawls are started in their own session (``start_new_session``), so they
  finish even when the scheduler is stopped; a restarted scheduler adopts the
  runs whose process is still alive and closes those whose process is gone.

A manual ``adarchive crawl`` of the same platform (a ``crawl`` row still
running, its process alive or its progress fresh) also holds a schedule back.
After each run the crawl's counts are copied onto the run and the watchlist is
scanned, so new watch hits are known as soon as the crawl that found them ends.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crawler.configuration import load_settings
from crawler.procs import pid_alive
from crawler.schedule.intervals import next_after
from crawler.schedule.watchlist import scan
from crawler.store.models import (
    Crawl,
    CrawlProgress,
    Platform,
    Schedule,
    ScheduleRun,
    utc,
    utcnow,
)


@dataclass
class SchedulerOptions:
    db_url: str
    out: Path
    """Data directory of the crawls (WARC files, logs/)."""
    definitions: str | None = None
    start_urls: dict[str, str] = field(default_factory=dict)
    """Per-platform start URL overrides, passed to each crawl as ``--start-url``."""
    crawl_args: list[str] = field(default_factory=list)
    """Extra ``adarchive crawl`` arguments (``-s NAME=VALUE`` …)."""
    tick: float = 10.0
    max_runs: int | None = None
    """Stop once this many runs have ended (None: run until stopped)."""
    once: bool = False
    """Start what is due now, wait for it, then stop (for cron or a systemd timer)."""
    stale_after: float = 1800.0
    """A crawl on another host whose progress is older than this counts as dead."""
    python: str = sys.executable
    settings: Any = None
    """Project settings with the scheduler's ``-s`` overrides: alerts and drift (issue 17)."""


@dataclass
class Child:
    run_id: int
    platform: str
    pid: int
    popen: subprocess.Popen[bytes] | None = None
    """None for a run adopted from an earlier scheduler (not our child)."""
    log: IO[bytes] | None = None


def next_due(schedule: Schedule, now: datetime) -> datetime:
    """The schedule's next due time after ``now``, keeping an interval's rhythm."""
    if schedule.cron:
        return next_after(now, cron=schedule.cron)
    every = float(schedule.every_seconds or 0)
    due = utc(schedule.next_run) or now
    if due > now:
        return due
    steps = int((now - due).total_seconds() // every) + 1
    return due + timedelta(seconds=steps * every)


class Scheduler:
    def __init__(
        self,
        options: SchedulerOptions,
        factory: sessionmaker[Session],
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options
        self.factory = factory
        self.echo = echo or (lambda line: print(line, flush=True))
        self.host = socket.gethostname()
        self.children: dict[int, Child] = {}
        self.ended = 0
        self._stop = False

    # -- lifecycle ----------------------------------------------------------

    def stop(self, *_: Any) -> None:
        self._stop = True

    def run(self) -> int:
        """Loop until stopped (signal, ``max_runs`` or ``once``); returns runs ended."""
        previous = signal.signal(signal.SIGTERM, self.stop)
        try:
            self.recover()
            started_once = False
            while not self._stop:
                self.reap()
                if self._done():
                    break
                if not (self.options.once and started_once):
                    self.start_due()
                    started_once = True
                if self.options.once and not self.children:
                    break
                time.sleep(self.options.tick)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        if self.children:
            names = ", ".join(f"{c.platform} (pid {c.pid})" for c in self.children.values())
            self.echo(f"scheduler stopping; still running (adopted on restart): {names}")
        return self.ended

    def _done(self) -> bool:
        return self.options.max_runs is not None and self.ended >= self.options.max_runs

    # -- restart --------------------------------------------------------------

    def recover(self) -> None:
        """Adopt live runs of this host left by an earlier scheduler; close dead ones."""
        with self.factory() as session:
            for run in session.scalars(select(ScheduleRun).where(ScheduleRun.status == "running")):
                if run.host == self.host and pid_alive(run.pid):
                    assert run.pid is not None
                    self.children[run.id] = Child(run.id, run.platform, run.pid)
                    self.echo(f"adopted run {run.id}: {run.platform} (pid {run.pid})")
                elif run.host == self.host or self._stale(session, run):
                    self._finish(session, run, exit_code=None)
            session.commit()

    def _stale(self, session: Session, run: ScheduleRun) -> bool:
        crawl = self._crawl_of(session, run)
        last = utc(run.started_at)
        if crawl is not None:
            progress = session.get(CrawlProgress, crawl.id)
            last = utc(progress.updated_at) if progress else utc(crawl.started_at)
        assert last is not None
        return (utcnow() - last).total_seconds() > self.options.stale_after

    # -- starting -------------------------------------------------------------

    def start_due(self) -> list[int]:
        now = utcnow()
        started = []
        with self.factory() as session:
            due = session.scalars(
                select(Schedule)
                .where(Schedule.enabled.is_(True), Schedule.next_run <= now)
                .order_by(Schedule.next_run, Schedule.id)
            ).all()
            ids = [(s.id, s.platform) for s in due]
        for schedule_id, platform in ids:
            if self._done():
                break
            run_id = self.start(schedule_id, platform)
            if run_id is not None:
                started.append(run_id)
        return started

    def start(self, schedule_id: int | None, platform: str) -> int | None:
        """Claim the platform and start its crawl; None if it is busy."""
        now = utcnow()
        with self.factory() as session:
            if self._manual_crawl_running(session, platform):
                return None
            run = ScheduleRun(
                schedule_id=schedule_id,
                platform=platform,
                running_platform=platform,
                started_at=now,
                status="running",
                host=self.host,
            )
            session.add(run)
            try:
                session.flush()
            except IntegrityError:  # another run of this platform holds the lock
                session.rollback()
                return None
            schedule = session.get(Schedule, schedule_id) if schedule_id else None
            if schedule is not None:
                schedule.last_run = now
                schedule.next_run = next_due(schedule, now)
            session.commit()
            run_id = run.id
            log_path = self._log_path(run_id, platform)
            try:
                child = self._spawn(run_id, platform, log_path)
            except OSError as exc:
                run.status, run.running_platform, run.finished_at = "failed", None, utcnow()
                session.commit()
                self.echo(f"run {run_id}: {platform} could not start: {exc}")
                return None
            run.pid = child.pid
            run.log_path = str(log_path)
            session.commit()
        self.children[run_id] = child
        self.echo(f"started run {run_id}: {platform} (pid {child.pid}, log {log_path})")
        return run_id

    def _log_path(self, run_id: int, platform: str) -> Path:
        directory = self.options.out / "logs"
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"schedule-run-{run_id:06d}-{platform}.log"

    def crawl_command(self, platform: str) -> list[str]:
        o = self.options
        cmd = [o.python, "-m", "crawler.cli", "crawl", platform, "--out", str(o.out)]
        cmd += ["--db", o.db_url]
        if o.definitions:
            cmd += ["--definitions", o.definitions]
        if platform in o.start_urls:
            cmd += ["--start-url", o.start_urls[platform]]
        return cmd + list(o.crawl_args)

    def _spawn(self, run_id: int, platform: str, log_path: Path) -> Child:
        log = open(log_path, "ab")  # noqa: SIM115 - closed when the run is reaped
        popen = subprocess.Popen(
            self.crawl_command(platform),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C to the scheduler does not cut crawls short
        )
        return Child(run_id, platform, popen.pid, popen, log)

    def _manual_crawl_running(self, session: Session, platform: str) -> bool:
        crawls = session.scalars(
            select(Crawl)
            .join(Platform, Platform.id == Crawl.platform_id)
            .where(Platform.name == platform, Crawl.status == "running")
        ).all()
        for crawl in crawls:
            if crawl.host == self.host:
                if pid_alive(crawl.pid):
                    return True
                continue
            progress = session.get(CrawlProgress, crawl.id)
            last = utc(progress.updated_at if progress else crawl.started_at)
            if last and (utcnow() - last).total_seconds() <= self.options.stale_after:
                return True
        return False

    # -- ending ---------------------------------------------------------------

    def reap(self) -> list[int]:
        """Close the runs whose process has ended; returns their ids."""
        ended = []
        for run_id, child in list(self.children.items()):
            if child.popen is not None:
                code = child.popen.poll()
                if code is None:
                    continue
            elif pid_alive(child.pid):
                continue
            else:
                code = None
            if child.log is not None:
                child.log.close()
            del self.children[run_id]
            with self.factory() as session:
                run = session.get(ScheduleRun, run_id)
                if run is not None:
                    self._finish(session, run, code)
                    session.commit()
            ended.append(run_id)
            self.ended += 1
        return ended

    def _crawl_of(self, session: Session, run: ScheduleRun) -> Crawl | None:
        if run.crawl_id is not None:
            return session.get(Crawl, run.crawl_id)
        if not run.pid:
            return None
        since = (utc(run.started_at) or utcnow()) - timedelta(minutes=1)
        return session.scalars(
            select(Crawl)
            .where(Crawl.pid == run.pid, Crawl.host == run.host, Crawl.started_at >= since)
            .order_by(Crawl.id.desc())
            .limit(1)
        ).first()

    def _finish(self, session: Session, run: ScheduleRun, exit_code: int | None) -> None:
        crawl = self._crawl_of(session, run)
        now = utcnow()
        if crawl is not None:
            if crawl.status == "running":  # the process ended without closing its crawl
                crawl.status = "interrupted"
                crawl.finish_reason = crawl.finish_reason or "process ended"
                crawl.finished_at = now
            run.crawl_id = crawl.id
            run.pages, run.ads, run.new_ads = crawl.pages, crawl.ads, crawl.new_ads
            run.errors = crawl.errors
            run.status = crawl.status
        elif exit_code == 0:
            run.status = "finished"
        else:
            run.status = "failed" if exit_code is not None else "interrupted"
        run.exit_code = exit_code
        run.finished_at = now
        run.running_platform = None
        session.commit()
        new_hits: list[int] = []
        try:
            new_hits = scan(session)
            run.watch_hits = len(new_hits)
            session.commit()
        except Exception as exc:  # a watchlist problem must not lose the run
            session.rollback()
            self.echo(f"run {run.id}: watchlist scan failed: {exc}")
        drift = self._drift(session, run, crawl)
        state = crawl.state if crawl is not None else None
        self.echo(
            f"ended run {run.id}: {run.platform} {run.status} (exit {exit_code}), "
            f"state {state or '-'}{', DRIFTING' if drift else ''}, "
            f"{run.pages} pages, {run.ads} ads, {run.new_ads} new, {run.errors} errors, "
            f"{run.watch_hits} new watch hits"
        )
        self._alert(session, run, crawl, exit_code, new_hits, drift)

    def _drift(self, session: Session, run: ScheduleRun, crawl: Crawl | None) -> Any:
        """Compare the run's crawl with the platform's recent runs (crawler/schedule/drift.py)."""
        if crawl is None or crawl.state not in ("finished", "degraded"):
            return None
        from crawler.schedule.drift import DriftConfig, check_drift

        try:
            return check_drift(session, crawl, DriftConfig.from_settings(self._settings()))
        except Exception as exc:  # a drift check must not lose the run
            session.rollback()
            self.echo(f"run {run.id}: drift check failed: {exc}")
            return None

    def _settings(self) -> Any:
        """The scheduler's settings: those it was given, else every configured layer."""
        if self.options.settings is not None:
            return self.options.settings
        return load_settings()[0]

    def _alert(
        self,
        session: Session,
        run: ScheduleRun,
        crawl: Crawl | None,
        exit_code: int | None,
        new_hits: list[int],
        drift: Any,
    ) -> None:
        """Push watch hits, drift and failed runs (the crawl itself alerts on its state)."""
        from crawler.alerts import Alert, AlertConfig, send_alerts
        from crawler.schedule.watchlist import hits

        try:
            config = AlertConfig.from_settings(self._settings())
        except ValueError as exc:
            self.echo(f"run {run.id}: alerts not sent: {exc}")
            return
        if not config.enabled:
            return
        crawl_id = crawl.id if crawl is not None else None
        alerts = []
        if new_hits:
            rows = hits(session, hit_ids=new_hits)
            found = ", ".join(
                f"{r['watch']['kind']}:{r['watch']['value']} on "
                f"{r['ad']['platform']}:{r['ad']['external_id']}"
                for r in rows[:5]
            )
            alerts.append(Alert("watch.hit", f"{len(new_hits)} new watch hit(s): {found}",
                                run.platform, crawl_id, {"hits": rows}))  # fmt: skip
        if drift:
            alerts.append(Alert("crawl.drift", f"{run.platform}: crawl {crawl_id} drifts: "
                                + "; ".join(drift["departures"]), run.platform, crawl_id, drift))  # fmt: skip
        if run.status != "finished" and (crawl is None or crawl.state is None):
            alerts.append(Alert("schedule.run_failed", f"{run.platform}: scheduled run {run.id} "
                                f"{run.status} (exit {exit_code}) before its crawl ended",
                                run.platform, crawl_id, {"run": run.id, "exit_code": exit_code}))  # fmt: skip
        failed = send_alerts(config, alerts)
        if alerts:
            self.echo(f"run {run.id}: {len(alerts)} alert(s) sent, {failed} delivery failure(s)")
