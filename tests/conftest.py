"""Shared test fixtures: one fixture web and one crawl of it per test session.

Crawls run in subprocesses (the Twisted reactor cannot restart in one
process), against the synthetic fixture web on loopback addresses only.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["workbench_stores"]  # crawled stores built once per session, copied per module
REPO = Path(__file__).resolve().parent.parent
# Workbench passwords are hashed with argon2 at its cheapest here (defined settings, so every
# CLI and server subprocess inherits them); the production cost, a quarter of a second of CPU
# per hash, is proved by tests/test_workbench_units.py. Export them to test at full cost.
CHEAP_PASSWORD_HASH = {
    "ADARCHIVE_WORKBENCH_PASSWORD_TIME_COST": "1",
    "ADARCHIVE_WORKBENCH_PASSWORD_MEMORY_KIB": "8",
    "ADARCHIVE_WORKBENCH_PASSWORD_PARALLELISM": "1",
}
for _name, _value in CHEAP_PASSWORD_HASH.items():
    os.environ.setdefault(_name, _value)
TINY_ADS = 6
# Local fixture web: short pause between requests; robots.txt still obeyed.
FAST = ["-s", "DOWNLOAD_DELAY=0.01", "-s", "AUTOTHROTTLE_ENABLED=False",
        # SSRF guard: allow the fixture platforms' addresses only (not 127.0.0.1)
        "-s", "ADARCHIVE_ALLOWED_ADDRESSES=127.0.0.10-127.0.0.99"]  # fmt: skip


def adarchive(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
              check: bool = False) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run the real CLI in a subprocess."""
    inherited = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    full_env = {**inherited, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "crawler.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=full_env,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"adarchive {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def project_crawler(spidercls: Any, settings: dict[str, Any] | None = None) -> Any:
    """A crawler (Scrapy's ``get_crawler``) with the project's settings under ``settings``:
    no component carries a default of its own (crawler/settings.py defines them)."""
    from scrapy.utils.test import get_crawler

    from crawler.configuration import project_defaults

    return get_crawler(spidercls, {**project_defaults(), **(settings or {})})


@pytest.fixture(scope="session")
def fixture_web() -> Iterator[Any]:
    """The synthetic fixture web, tiny, served once per session on 127.0.0.(10+i)."""
    from crawler.demo.server import FixtureWeb
    from crawler.demo.world import build_world

    web = FixtureWeb(build_world(seed=1, ads_per_platform=TINY_ADS), port=0)
    web.start()
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture(scope="session")
def truth(fixture_web: Any) -> dict[str, Any]:
    return fixture_web.truth()


def static_platforms(web: Any) -> list[str]:
    from crawler.platforms import load_all

    return [n for n, d in load_all().items() if not d.needs_browser and n in web.start_urls]


def start_url_args(web: Any, names: list[str]) -> list[str]:
    args: list[str] = []
    for name in names:
        args += ["--start-url", f"{name}={web.start_urls[name]}"]
    return args


@dataclass
class CrawlRun:
    out: Path
    db: Path
    result: subprocess.CompletedProcess[str]
    platforms: list[str]
    log_start: int
    log_end: int

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def stat(self, key: str) -> int:
        """A Scrapy stat summed over this run's crawls, from the JSON files they write."""
        return crawl_stat(self.out, key)


def crawl_stat(out: Path, key: str) -> int:
    """``key`` summed over every ``<out>/crawl-stats/*.json`` (the crawl writes one per crawl;
    a key no crawl recorded counts 0, so assert on values above 0 where a count matters)."""
    files = sorted((out / "crawl-stats").glob("*.json"))
    assert files, f"no crawl statistics under {out}"
    return sum(int(json.loads(f.read_text(encoding="utf-8"))["stats"].get(key) or 0) for f in files)


def crawl_all(web: Any, out: Path, *extra: str) -> CrawlRun:
    names = static_platforms(web)
    log_start = len(web.request_log)
    result = adarchive(
        "crawl", *names, *start_url_args(web, names), "--out", str(out), *FAST, *extra
    )
    return CrawlRun(out, out / "adarchive.db", result, names, log_start, len(web.request_log))


# The crawl pipelines with images on (the session crawl leaves images to the default).
WITH_IMAGES = json.dumps(
    {
        "pipelines.contacts.ContactsPipeline": 300,
        "pipelines.store.StorePipeline": 800,
        "pipelines.images.ImagesPipeline": 850,
    }
)


def crawl_world(out: Path, seed: int, ads: int) -> dict[str, Any]:
    """Serve a fixture world of its own (``ads`` adverts per platform), crawl its static
    platforms with images into ``out``, stop it; its truth.json."""
    from crawler.demo.server import FixtureWeb
    from crawler.demo.world import build_world

    web = FixtureWeb(build_world(seed=seed, ads_per_platform=ads), port=0)
    web.start()
    try:
        names = static_platforms(web)
        result = adarchive("crawl", *names, *start_url_args(web, names), "--out", str(out), *FAST,
                           "-s", f"ITEM_PIPELINES={WITH_IMAGES}", "--log-level", "WARNING")  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return web.truth()
    finally:
        web.stop()


@pytest.fixture(scope="session")
def static_crawl(fixture_web: Any, tmp_path_factory: pytest.TempPathFactory) -> CrawlRun:
    """One crawl of every static platform of the fixture web, shared by the session."""
    run = crawl_all(fixture_web, tmp_path_factory.mktemp("static-crawl"))
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    return run


def load_truth_file(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def _store_template() -> Path:
    """A SQLite store migrated to the newest schema, once per test process."""
    from crawler.store.db import open_store

    folder = Path(tempfile.mkdtemp(prefix="adarchive-store-template-"))
    atexit.register(shutil.rmtree, folder, True)
    factory = open_store(f"sqlite:///{folder / 'template.db'}")
    factory.kw["bind"].dispose()  # last connection closed: the WAL is folded into the file
    return folder / "template.db"


def migrated_sqlite(path: Path) -> str:
    """The URL of a new, empty SQLite store at ``path``, at the newest schema.

    A copy of one migrated template: running the ten migrations costs about half a second
    of CPU (and many fsyncs) per store. Tests of the migrations themselves, and of stores
    the CLI creates, still migrate for real.
    """
    shutil.copyfile(_store_template(), path)
    return f"sqlite:///{path}"


# -- store engines -------------------------------------------------------------

PG_SERVER = os.environ.get("ADARCHIVE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_schema_url(schema: str) -> str:
    """A URL whose connections use their own schema of the test database."""
    return f"{PG_SERVER}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store on SQLite and on the real PostgreSQL server.

    Where PostgreSQL is unreachable the PostgreSQL case is reported as
    skipped with the reason, never as passed.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # connection refused, auth, missing driver
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER}: {str(exc).splitlines()[0]}")
    try:
        yield postgres_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL case of every engine-parametrised test `postgres`, and every test
    that uses the fixture web `crawl` (whatever its module says), so `make test-fast`
    stays the quick loop as tests are added."""
    for item in items:
        if "fixture_web" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.crawl)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)
