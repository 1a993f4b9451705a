"""What the crawl-operations pages show, read with the code the commands use.

Platforms with their definition health (``adarchive platform check``'s static
checks, and the health the last crawl stored), crawls running and recent
(``adarchive status``, plus refusals by reason), schedules (``adarchive
schedule list``) and watchlists with their hits (``adarchive watch …``).
Nothing here fetches a page: a live check stays a command-line action.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.check import selector_overlap_warnings, start_url_refusals
from crawler.configuration import setting
from crawler.platforms import DEFINITIONS_DIR, DefinitionError, PlatformDefinition, load_definition
from crawler.schedule.schedules import list_schedules
from crawler.schedule.status import status_report
from crawler.schedule.watchlist import hits, list_watches
from crawler.store.models import Ad, Crawl, CrawlProgress, Platform, WatchHit, utc

RECENT_CRAWLS = 20
RECENT_HITS = 100


def definitions_dir() -> Path:
    """Where the platform definitions are: ``ADARCHIVE_DEFINITIONS_DIR``, else the built-in ones."""
    configured = setting("ADARCHIVE_DEFINITIONS_DIR")
    return Path(configured) if configured else DEFINITIONS_DIR


@dataclass
class DefinitionFile:
    """One definition file: loaded, or the error that stops a crawl of it."""

    path: Path
    definition: PlatformDefinition | None = None
    error: str | None = None


def definition_files(directory: Path | None = None) -> list[DefinitionFile]:
    """Every ``*.toml`` in the definitions folder; a broken one is listed with its error."""
    out = []
    for path in sorted((directory or definitions_dir()).glob("*.toml")):
        try:
            out.append(DefinitionFile(path, load_definition(path)))
        except DefinitionError as exc:
            out.append(DefinitionFile(path, error=str(exc)))
    return out


def platform_names() -> list[str]:
    """Names a schedule may name: the definitions that load."""
    return sorted({f.definition.name for f in definition_files() if f.definition is not None})


@dataclass
class PlatformHealth:
    """A platform's definition checks and what its last crawl said about it."""

    name: str
    file: str = ""
    error: str | None = None
    render: str = ""
    start_urls: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ads: int = 0
    last_crawl: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        """One word for the table: broken, refused, the last crawl's state, or unknown."""
        if self.error:
            return "broken"
        if self.refused:
            return "refused"
        if self.last_crawl and self.last_crawl.get("state"):
            return str(self.last_crawl["state"])
        return "not crawled"


def _last_crawls(db: Session) -> dict[str, Crawl]:
    newest = (
        select(Crawl.platform_id, func.max(Crawl.id).label("id"))
        .where(Crawl.status != "running")
        .group_by(Crawl.platform_id)
        .subquery()
    )
    rows = db.execute(
        select(Platform.name, Crawl)
        .join(newest, newest.c.id == Crawl.id)
        .join(Platform, Platform.id == Crawl.platform_id)
    ).all()
    return {name: crawl for name, crawl in rows}


def crawl_health(crawl: Crawl) -> dict[str, Any]:
    """The finish state and health a crawl stored (crawler/health.py), for display."""
    found = json.loads(crawl.health_json) if crawl.health_json else {}
    drift = json.loads(crawl.drift_json).get("departures", []) if crawl.drift_json else []
    return {
        "crawl": crawl.id,
        "started_at": utc(crawl.started_at),
        "finished_at": utc(crawl.finished_at),
        "state": crawl.state or crawl.status,
        "reason": crawl.finish_reason,
        "pages": crawl.pages,
        "ads": crawl.ads,
        "problems": list(found.get("problems") or []),
        "fix": found.get("fix"),
        "refusals": dict(found.get("refusals") or {}),
        "drift": drift,
    }


def platform_health(db: Session) -> list[PlatformHealth]:
    """Every defined platform (and every platform the store knows without a definition)."""
    last = _last_crawls(db)
    ads = dict(
        db.execute(
            select(Platform.name, func.count(Ad.id))
            .join(Ad, Ad.platform_id == Platform.id)
            .group_by(Platform.name)
        ).all()
    )
    out: dict[str, PlatformHealth] = {}
    for f in definition_files():
        if f.definition is None:
            out[f.path.stem] = PlatformHealth(f.path.stem, f.path.name, error=f.error)
            continue
        d = f.definition
        refused, notes = start_url_refusals(d)
        out[d.name] = PlatformHealth(
            d.name,
            f.path.name,
            render=f"{d.listing_render}/{d.detail_render}",
            start_urls=list(d.start_urls),
            refused=refused,
            notes=notes + selector_overlap_warnings(d),
        )
    for name in db.scalars(select(Platform.name)):
        out.setdefault(name, PlatformHealth(name, error="no definition file for this platform"))
    for name, row in out.items():
        row.ads = int(ads.get(name, 0))
        if name in last:
            row.last_crawl = crawl_health(last[name])
    return sorted(out.values(), key=lambda p: p.name)


def crawls(db: Session, recent: int = RECENT_CRAWLS) -> dict[str, Any]:
    """``adarchive status``'s report, each crawl with its refusals by reason and health."""
    report = status_report(db, recent)
    for row in report["running"]:
        progress = db.get(CrawlProgress, row["crawl"])
        text = progress.refusals_json if progress is not None else None
        row["refusals"] = json.loads(text) if text else {}
        row["problems"], row["fix"] = [], None
    for row in report["recent"]:
        crawl = db.get(Crawl, row["crawl"])
        assert crawl is not None
        health = crawl_health(crawl)
        row["refusals"], row["problems"], row["fix"] = (
            health["refusals"],
            health["problems"],
            health["fix"],
        )
    return report


def schedules(db: Session) -> list[dict[str, Any]]:
    return list_schedules(db)


def watchlists(
    db: Session, limit: int = RECENT_HITS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(watches with hit counts, the newest hits first)."""
    newest = list(db.scalars(select(WatchHit.id).order_by(WatchHit.id.desc()).limit(limit)))
    found = hits(db, hit_ids=newest)
    found.reverse()
    return list_watches(db), found
