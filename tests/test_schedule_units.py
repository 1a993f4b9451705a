"""Schedules, intervals, watchlists, status and progress bars, on a real store."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import migrated_sqlite
from crawler.procs import pid_alive
from crawler.schedule.intervals import ScheduleError, describe, next_after, parse_every
from crawler.schedule.progressbar import TerminalProgress, bar, progress_line
from crawler.schedule.scheduler import Scheduler, SchedulerOptions, next_due
from crawler.schedule.schedules import add_schedule, list_schedules, remove_schedules
from crawler.schedule.status import render, status_report
from crawler.schedule.watchlist import WatchError, add_watches, normalise, scan
from crawler.store.db import open_store
from crawler.store.models import (
    Ad,
    AdIdentifier,
    Capture,
    Crawl,
    CrawlProgress,
    Identifier,
    Platform,
    Schedule,
    ScheduleRun,
    WatchHit,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("6h", 21600), ("1d", 86400), ("1h30m", 5400), ("2.5", 2.5)],
)
def test_parse_every(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "6x", "h", "0s", "1h 30"])
def test_parse_every_rejects(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_every(text)


def test_cron_and_interval_next_times() -> None:
    assert next_after(T0, cron="0 */6 * * *") == T0 + timedelta(hours=6)
    assert next_after(T0 + timedelta(minutes=1), cron="0 */6 * * *") == T0 + timedelta(hours=6)
    assert next_after(T0, every_seconds=3600) == T0 + timedelta(hours=1)
    assert describe(5400, None) == "every 1h30m"
    assert describe(None, "0 3 * * *") == "cron 0 3 * * *"
    # An interval keeps its rhythm even when a run started late.
    late = Schedule(platform="p", every_seconds=3600, next_run=T0)
    assert next_due(late, T0 + timedelta(minutes=150)) == T0 + timedelta(hours=3)


def test_schedules_add_list_remove(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as session:
        a = add_schedule(session, "kz_board", every_seconds=6 * 3600)
        b = add_schedule(session, "kz_board", cron="0 3 * * *")
        with pytest.raises(ScheduleError):
            add_schedule(session, "kz_board", cron="not cron")
        with pytest.raises(ScheduleError):
            add_schedule(session, "kz_board")
        rows = list_schedules(session)
        assert [(r["id"], r["when"]) for r in rows] == [
            (a.id, "every 6h"),
            (b.id, "cron 0 3 * * *"),
        ]
        # An interval is due at once; a cron schedule at its next matching time.
        assert rows[0]["next_run"] <= datetime.now(UTC) < rows[1]["next_run"]
        session.add(ScheduleRun(schedule_id=a.id, platform="kz_board", status="finished"))
        session.commit()
        assert remove_schedules(session, str(a.id)) == 1
        assert session.scalar(select(ScheduleRun.schedule_id)) is None  # history kept
        assert remove_schedules(session, "kz_board") == 1
        assert remove_schedules(session, "kz_board") == 0


def test_watch_normalises_like_the_extractor() -> None:
    assert normalise("+7 701 555 0101") == normalise("phone:+77015550101")
    assert normalise("8 (701) 555-01-01", region="KZ").value == "+77015550101"
    assert normalise("telegram:@Nina_Star") == normalise("@Nina_Star", kind="telegram")
    assert normalise("Someone@Example.ORG").value == "someone@example.org"
    with pytest.raises(WatchError):
        normalise("nothing to see")
    with pytest.raises(WatchError):
        normalise("x", kind="fax")


def _ad_with_identifier(session, external_id: str, value: str, crawl_id: int) -> int:  # type: ignore[no-untyped-def]
    platform = session.scalar(select(Platform)) or Platform(name="sample_board")
    session.add(platform)
    session.flush()
    capture = Capture(crawl_id=crawl_id, kind="response", url=f"http://127.0.0.50/{external_id}",
                      fetched_at=T0, record_id=f"<urn:uuid:{external_id}>")  # fmt: skip
    session.add(capture)
    session.flush()
    ad = Ad(platform_id=platform.id, external_id=external_id, url=capture.url, first_seen=T0,
            last_seen=T0, capture_id=capture.id)  # fmt: skip
    ident = session.scalar(select(Identifier).where(Identifier.value == value))
    if ident is None:
        ident = Identifier(kind="phone", value=value)
        session.add(ident)
    session.add(ad)
    session.flush()
    session.add(AdIdentifier(ad_id=ad.id, identifier_id=ident.id, capture_id=capture.id,
                             field="body", match=value, start=0, end=len(value)))  # fmt: skip
    session.commit()
    return ad.id


def test_watch_hits_are_recorded_once_per_ad(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as session:
        platform = Platform(name="sample_board")
        session.add(platform)
        session.flush()
        crawl = Crawl(platform_id=platform.id, status="finished")
        session.add(crawl)
        session.commit()
        first = _ad_with_identifier(session, "1", "+77015550101", crawl.id)
        _ad_with_identifier(session, "2", "+77015550199", crawl.id)
        add_watches(session, ["+7 701 555 0101"])
        assert len(scan(session)) == 1
        assert scan(session) == []  # nothing new
        hit = session.scalar(select(WatchHit))
        assert (hit.ad_id, hit.crawl_id) == (first, crawl.id)
        assert hit.capture_id == session.get(Ad, first).capture_id
        third = _ad_with_identifier(session, "3", "+77015550101", crawl.id)
        new = scan(session)
        assert [session.get(WatchHit, h).ad_id for h in new] == [third]


def test_status_shows_running_crawl_with_progress(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as session:
        platform = Platform(name="kz_board")
        session.add(platform)
        session.flush()
        started = datetime.now(UTC) - timedelta(seconds=10)
        running = Crawl(platform_id=platform.id, status="running", started_at=started,
                        host=socket.gethostname(), pid=12345678)  # fmt: skip
        done = Crawl(platform_id=platform.id, status="finished", started_at=started,
                     finished_at=started + timedelta(seconds=4), pages=40, ads=10, new_ads=3)  # fmt: skip
        session.add_all([running, done])
        session.flush()
        session.add(CrawlProgress(crawl_id=running.id, pages=50, ads=12, errors=1, pending=50))
        session.commit()
        report = status_report(session)
    [row] = report["running"]
    assert (row["pages"], row["ads"], row["errors"], row["pending"]) == (50, 12, 1, 50)
    assert 4.0 < row["rate"] < 5.5
    assert row["process_alive"] is False  # no such pid here
    assert report["recent"][0]["rate"] == 10.0
    text = "\n".join(render(report))
    assert "[############------------]" in text  # 50 of 100 known pages
    assert "process gone" in text


def test_progress_bar_draws_only_on_terminals() -> None:
    import io

    assert bar(3, 4, width=8) == "[######--]"
    assert bar(5, None, width=4) == "[....]"
    assert progress_line("kz", 3, 4, "x", width=4) == "kz [###-] 3/4 x"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    pipe, tty = io.StringIO(), Tty()
    TerminalProgress(pipe).draw("a")
    assert pipe.getvalue() == ""
    progress = TerminalProgress(tty)
    progress.draw("a", "b")
    progress.draw("c")
    assert tty.getvalue().count("\x1b[2K") == 4 and "\x1b[2F" in tty.getvalue()


def test_restarted_scheduler_adopts_live_runs_and_closes_dead_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    factory = open_store(url)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    with factory() as session:
        schedule = add_schedule(session, "uk_directory", every_seconds=1)
        for platform, pid in (("uk_directory", live.pid), ("kz_board", dead.pid)):
            session.add(ScheduleRun(schedule_id=schedule.id, platform=platform,
                                    running_platform=platform, host=host, pid=pid))  # fmt: skip
        session.commit()
    lines: list[str] = []
    options = SchedulerOptions(db_url=url, out=tmp_path, tick=0.1, max_runs=1)
    assert Scheduler(options, factory, echo=lines.append).run() == 1
    live.wait()
    with factory() as session:
        runs = {r.platform: r for r in session.scalars(select(ScheduleRun))}
    # Nothing new was started while the adopted run held uk_directory.
    assert set(runs) == {"uk_directory", "kz_board"}
    assert runs["kz_board"].status == "interrupted" and runs["kz_board"].running_platform is None
    assert runs["uk_directory"].running_platform is None and runs["uk_directory"].finished_at
    assert any(line.startswith("adopted run") for line in lines), lines
    assert pid_alive(live.pid) is False


def test_db_upgrade_command(store_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from conftest import adarchive
    from crawler.store.db import MIGRATIONS_DIR, make_engine

    done = adarchive("db", "upgrade", "--db", store_url)
    assert done.returncode == 0, done.stderr
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert done.stdout.strip().endswith(f"at revision {head}")
    engine = make_engine(store_url, create=False)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"schedule_run", "crawl_progress", "watch", "watch_hit"} <= tables


def test_one_running_run_per_platform_is_enforced_by_the_store(store_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    factory = open_store(store_url)
    with factory() as session:
        first = ScheduleRun(platform="kz_board", running_platform="kz_board")
        session.add(first)
        session.commit()
        session.add(ScheduleRun(platform="kz_board", running_platform="kz_board"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        first.running_platform = None  # the run ended: the platform is free again
        session.add(ScheduleRun(platform="kz_board", running_platform="kz_board"))
        session.commit()
        assert session.scalar(select(func.count(ScheduleRun.id))) == 2
    factory.kw["bind"].dispose()
