"""Shared test fixtures: one fixture web and one crawl of it per test session.

Crawls run in subprocesses (the Twisted reactor cannot restart in one
process), against the synthetic fixture web on loopback addresses only.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_forkserver import address as forkserver_address
from cli_forkserver import attach as attach_forkserver
from cli_forkserver import run_cli
from cli_forkserver import start as start_forkserver

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
# Hundreds of new SQLite stores per run: each a copy of one the migrations made once per
# migration set (crawler.store.db), not migrated in place (0.3 s of CPU each).
# tests/test_store.py compares the two.
os.environ.setdefault(
    "ADARCHIVE_STORE_TEMPLATES", str(REPO / ".pytest_cache" / "adarchive-store-templates")
)
TINY_ADS = 6
# jp_dating's robots.txt asks for 1 s between requests, and every crawl of the static platforms
# waited about 8 s on it; the suite's worlds state 0.3 s (tests/test_crawl.py still measures
# that the crawl keeps it, against a DOWNLOAD_DELAY of 0.01 s).
CRAWL_DELAYS = {"jp_dating": 0.3}
# The Chromium that tests of the workbench and of replay launch themselves: Debian's headless
# shell when installed (a new page with a full-page screenshot costs 0.37 s of CPU there, 0.92 s
# in /usr/bin/chromium's headless mode, which keeps a browser window per page). Not for the
# crawl or the exhibit: the shell ignores --webrtc-ip-handling-policy (a switch of the full
# browser; tests/test_webrtc_flag.py sees STUN reach the canary), so the product launches
# crawler.browser.launch.find_browser()'s Chromium and so do the tests of its guards.
HEADLESS_SHELL = Path("/usr/bin/chromium-headless-shell")
CHROMIUM = HEADLESS_SHELL if HEADLESS_SHELL.exists() else Path("/usr/bin/chromium")
# Local fixture web: short pause between requests; robots.txt still obeyed.
FAST = ["-s", "DOWNLOAD_DELAY=0.01", "-s", "AUTOTHROTTLE_ENABLED=False",
        # SSRF guard: allow the fixture platforms' addresses only (not 127.0.0.1)
        "-s", "ADARCHIVE_ALLOWED_ADDRESSES=127.0.0.10-127.0.0.99"]  # fmt: skip


def adarchive(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
              check: bool = False,
              input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run the real CLI in a process of its own (forked from a warm interpreter: see
    tests/cli_forkserver.py), in the repository, without the caller's ADARCHIVE_DB;
    ``input``: its standard input (none: empty)."""
    inherited = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    full_env = {**inherited, **(env or {})}
    result = run_cli(list(args), env=full_env, cwd=REPO, timeout=timeout, input=input)
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

    web = FixtureWeb(
        build_world(seed=1, ads_per_platform=TINY_ADS, crawl_delays=CRAWL_DELAYS), port=0
    )
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

    web = FixtureWeb(
        build_world(seed=seed, ads_per_platform=ads, crawl_delays=CRAWL_DELAYS), port=0
    )
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


def migrated_sqlite(path: Path) -> str:
    """The URL of a new, empty SQLite store at ``path``, at the newest schema.

    A copy of the run's migrated template (``ADARCHIVE_STORE_TEMPLATES``, above): running
    the migrations costs about half a second of CPU (and many fsyncs) per store. Tests of
    the migrations themselves still migrate for real.
    """
    from crawler.store.db import store_template

    shutil.copyfile(store_template(Path(os.environ["ADARCHIVE_STORE_TEMPLATES"])), path)
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


FORKSERVER_KEY = "adarchive/cli-forkserver"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The CLI fork server starts now, and imports while the tests are collected: one for the
    whole run, started by pytest-xdist's controller (before its workers) and used by every
    worker (see pytest_configure_node), or by the one process of a run without workers."""
    workerinput = getattr(session.config, "workerinput", None)
    if workerinput is None:
        # the controller's, for its workers; a run without workers starts one at its first command
        if getattr(session.config.option, "numprocesses", None):
            start_forkserver()
    else:
        attach_forkserver(workerinput.get(FORKSERVER_KEY))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL case of every engine-parametrised test `postgres`, and every test
    that uses the fixture web `crawl` (whatever its module says), so `make test-fast`
    stays the quick loop as tests are added; then put the longest modules first."""
    for item in items:
        if "fixture_web" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.crawl)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)
    longest_modules_first(config, items)


# -- order: the longest modules first --------------------------------------------
#
# `make test` hands whole modules to two workers (--dist loadscope, so a module's crawl runs
# once) in collection order (--no-loadscope-reorder: xdist's own order, by number of tests,
# puts a hundred quick extraction cases before a module of three long crawls). A long module
# started last keeps one worker busy while the other idles: longest first, estimated from
# the durations the previous runs recorded in pytest's cache (the same file for both
# workers, so both collect the same order). A test never run before counts as a guess by
# its markers. A fresh checkout (CI's) has no cache: it orders by tests/durations.json, seconds
# per module from a whole run (`make test-durations` rewrites it from this checkout's cache).

DURATIONS_FILE = Path(__file__).with_name("durations.json")
DURATIONS_KEY = "adarchive/test-durations"
GUESS_SECONDS = {"browser": 10.0, "crawl": 6.0, "slow": 6.0}
GUESS_OTHER = 0.3
_durations: dict[str, float] = {}


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _guess(item: pytest.Item) -> float:
    marks = {mark.name for mark in item.iter_markers()}
    return max([GUESS_SECONDS[m] for m in marks if m in GUESS_SECONDS], default=GUESS_OTHER)


def _known_durations(config: pytest.Config) -> dict[str, float]:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and DURATIONS_KEY in workerinput:
        return dict(workerinput[DURATIONS_KEY])  # the controller's copy: one order for all
    cache = getattr(config, "cache", None)
    return cache.get(DURATIONS_KEY, {}) if cache is not None else {}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller: every worker orders by the same durations, even if another
    run in this checkout rewrites the cache while they collect, and uses the controller's CLI
    fork server."""
    node.workerinput[DURATIONS_KEY] = _known_durations(node.config)
    node.workerinput[FORKSERVER_KEY] = forkserver_address()


def _committed_durations() -> dict[str, float]:
    """Seconds per module, from tests/durations.json (empty if it is missing or unreadable)."""
    try:
        data = json.loads(DURATIONS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}


def longest_modules_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = _known_durations(config)
    per_module: dict[str, float] = {}
    unknown: set[str] = set()
    for item in items:
        seconds = known.get(item.nodeid)
        if not isinstance(seconds, int | float):
            unknown.add(_module(item.nodeid))
            seconds = _guess(item)
        per_module[_module(item.nodeid)] = per_module.get(_module(item.nodeid), 0.0) + seconds
    committed = _committed_durations()
    for module in unknown & committed.keys():  # no run of this module here yet: the file's
        per_module[module] = max(per_module[module], committed[module])
    rank = {m: i for i, m in enumerate(sorted(per_module, key=lambda m: (-per_module[m], m)))}
    items.sort(key=lambda item: rank[_module(item.nodeid)])  # stable: a module keeps its order


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Setup, call and teardown of each test (a module's shared crawl counts for its first)."""
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or a run without workers) records the durations for the next order."""
    cache = getattr(session.config, "cache", None)
    if cache is None or hasattr(session.config, "workerinput") or not _durations:
        return
    known = cache.get(DURATIONS_KEY, {})
    known.update({nodeid: round(seconds, 3) for nodeid, seconds in _durations.items()})
    cache.set(DURATIONS_KEY, known)
