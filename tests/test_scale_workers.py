"""Scale-out for real: two worker processes, one Redis frontier, one PostgreSQL store.

Each test uses its own Redis key prefix (deleted afterwards) and its own
PostgreSQL schema; where Redis or PostgreSQL is unreachable the tests are
reported as skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_forkserver import popen
from cli_inprocess import adarchive_here

from conftest import FAST, PG_SERVER, REPO, adarchive, postgres_schema_url

pytestmark = [pytest.mark.crawl, pytest.mark.redis, pytest.mark.postgres]

REDIS_URL = os.environ.get("ADARCHIVE_TEST_REDIS", "redis://127.0.0.1:6379/0")
PLATFORMS = ["uk_directory", "kz_board"]
DELAY = 0.05  # seconds between two requests to one site, across all workers
ADS = 20
ALLOWED = [arg for arg in FAST if arg.startswith("ADARCHIVE_ALLOWED_ADDRESSES")]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return adarchive(*args, timeout=timeout)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    from crawler.scale.frontier import clear, connect
    from crawler.scale.worker_settings import ScaleError

    try:
        server = connect(REDIS_URL)
    except ScaleError as exc:
        pytest.skip(str(exc))
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        clear(server, prefix)
        assert list(server.scan_iter(match=f"{prefix}:*")) == []
        server.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER}: {str(exc).splitlines()[0]}")
    try:
        yield postgres_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="module")
def scale_web() -> Iterator[Any]:
    """A fixture web with enough pages per platform for two workers to share."""
    from crawler.demo.server import FixtureWeb
    from crawler.demo.world import build_world

    web = FixtureWeb(build_world(seed=3, ads_per_platform=ADS), port=0)
    web.start()
    try:
        yield web
    finally:
        web.stop()


def test_shared_limiter_spaces_grants_across_clients(redis_prefix: str) -> None:
    import redis

    from crawler.scale.limiter import SharedLimiter, site_keys

    grants: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + 1.0

    _, leases = site_keys(redis_prefix, "site.example")

    def client() -> None:
        server = redis.Redis.from_url(REDIS_URL)
        limiter = SharedLimiter(server, redis_prefix)
        while time.monotonic() < end:
            lease, wait = limiter.try_acquire("site.example", 0.1, 1, 5.0)
            if lease is None:
                time.sleep(min(wait, 0.01))
                continue
            # the grant's time on Redis's clock (the lease's expiry less its 5 s ttl), not
            # when this thread next ran: under load a thread can wait to be scheduled
            expiry_ms = server.zscore(leases, lease)
            with lock:
                grants.append((expiry_ms - 5000) / 1000)
            limiter.release("site.example", lease)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grants.sort()
    gaps = [b - a for a, b in zip(grants, grants[1:], strict=False)]
    assert 8 <= len(grants) <= 11, len(grants)  # 1 s at one grant per 0.1 s, four eager clients
    assert min(gaps) >= 0.1 - 0.0005, min(gaps)  # Redis's clock, in whole milliseconds


def test_shared_limiter_caps_concurrency(redis_prefix: str) -> None:
    import redis

    from crawler.scale.limiter import SharedLimiter

    a = SharedLimiter(redis.Redis.from_url(REDIS_URL), redis_prefix)
    b = SharedLimiter(redis.Redis.from_url(REDIS_URL), redis_prefix)
    first, _ = a.try_acquire("site.example", 0.0, 2, 5.0)
    second, _ = b.try_acquire("site.example", 0.0, 2, 5.0)
    third, wait = a.try_acquire("site.example", 0.0, 2, 5.0)
    assert first and second and third is None and wait > 0
    b.release("site.example", second)
    again, _ = b.try_acquire("site.example", 0.0, 2, 5.0)
    assert again is not None
    # A crashed worker's lease ends by itself.
    short, _ = a.try_acquire("other.example", 0.0, 1, 0.2)
    assert short and a.try_acquire("other.example", 0.0, 1, 0.2)[0] is None
    time.sleep(0.3)
    assert a.try_acquire("other.example", 0.0, 1, 0.2)[0] is not None


def test_asyncio_client_grants_like_the_blocking_one(redis_prefix: str) -> None:
    """The middleware's non-blocking acquire shares the same budget with blocking clients."""
    import asyncio

    import redis
    import redis.asyncio

    from crawler.scale.limiter import SharedLimiter

    async def scenario() -> tuple:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        a = SharedLimiter(redis.Redis.from_url(REDIS_URL), redis_prefix, client)
        b = SharedLimiter(redis.Redis.from_url(REDIS_URL), redis_prefix)
        try:
            first = await a.acquire_async("site.example", 0.0, 2, 5.0)
            second = b.try_acquire("site.example", 0.0, 2, 5.0)
            third = await a.acquire_async("site.example", 0.0, 2, 5.0)
            b.release("site.example", second[0])
            again = await a.acquire_async("site.example", 0.0, 2, 5.0)
            spaced = await a.acquire_async("slow.example", 5.0, 1, 5.0)
            a.release("slow.example", spaced[0])
            waiting = await a.acquire_async("slow.example", 5.0, 1, 5.0)
        finally:
            await client.aclose()
        return first, second, third, again, waiting

    first, second, third, again, waiting = asyncio.run(scenario())
    assert first[0] and second[0] and third[0] is None and third[1] > 0
    assert again[0] is not None
    assert waiting[0] is None and 4.0 < waiting[1] <= 5.0


def test_seeds_status_and_rounds(redis_prefix: str) -> None:
    import redis

    from crawler.scale.frontier import platform_keys, seed, status

    server = redis.Redis.from_url(REDIS_URL)
    keys = platform_keys(redis_prefix, "kz_board")
    server.sadd(keys["dupefilter"], "seen-in-the-last-round")
    assert seed(server, redis_prefix, "kz_board", ["http://127.0.0.11:1/ads/"]) == 1
    row = status(server, redis_prefix, "kz_board")
    # An idle frontier starts a new round: the last round's fingerprints are forgotten.
    assert (row["seeds"], row["queued"], row["seen"]) == (1, 0, 0)
    server.sadd(keys["dupefilter"], "seen-in-this-round")
    seed(server, redis_prefix, "kz_board", ["http://127.0.0.11:1/ads/?p=2"])
    assert status(server, redis_prefix, "kz_board")["seen"] == 1  # a round in progress keeps it


def test_worker_refuses_sqlite(tmp_path: Path, redis_prefix: str) -> None:
    done = cli("worker", "kz_board", "--db", str(tmp_path / "a.db"), "--out", str(tmp_path),
                   "--prefix", redis_prefix)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("adarchive: error: workers share one store: use PostgreSQL")


def test_two_workers_share_one_frontier(
    scale_web: Any, pg_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    from sqlalchemy import func, select

    from crawler.store.db import open_store
    from crawler.store.models import Ad, Capture, Crawl, Platform, Sighting, WarcFile

    # The store and the second seed are made in this process through the CLI's entry point
    # (test_mistakes runs `db upgrade` as a real subprocess; the first seed here is one).
    assert adarchive_here("db", "upgrade", "--db", pg_url).returncode == 0
    for name, command in zip(PLATFORMS, (cli, adarchive_here), strict=True):
        seeded = command("frontier", "seed", name, "--start-url", scale_web.start_urls[name],
                     "--prefix", redis_prefix, "--redis", REDIS_URL)  # fmt: skip
        assert seeded.returncode == 0, seeded.stderr
    log_start = len(scale_web.request_log)
    env = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    workers = [
        popen(
            [
                "worker",
                *PLATFORMS,
                "--db",
                pg_url,
                "--out",
                str(tmp_path / f"w{i}"),
                "--prefix",
                redis_prefix,
                "--redis",
                REDIS_URL,
                "--delay",
                str(DELAY),
                "--idle-close",
                "1",
                "-s",
                *ALLOWED,
            ],  # fmt: skip
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    for w, (out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out + err[-3000:]
    log = scale_web.request_log[log_start:]
    truth = scale_web.truth()

    # No page but robots.txt was fetched twice (each worker asks for robots.txt itself).
    fetched = Counter((urlsplit(e.url).hostname, e.path) for e in log)
    twice = {key: n for key, n in fetched.items() if n > 1}
    assert {path for _, path in twice} <= {"/robots.txt"}, twice
    assert all(n <= len(PLATFORMS) for n in twice.values())

    # Per site, N workers were as polite as one: requests at least DELAY apart.
    for name in PLATFORMS:
        host = urlsplit(scale_web.base_urls[name]).hostname
        times = sorted(e.time for e in log if urlsplit(e.url).hostname == host)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(times) > 2 * ADS
        assert min(gaps) >= DELAY - 0.01, (name, min(gaps))
        assert (len(times) - 1) / (times[-1] - times[0]) <= 1.02 / DELAY

    factory = open_store(pg_url, create=False)
    with factory() as session:
        # Both workers did work, each under its own crawl rows and WARC files (pid in the name).
        pages = dict(
            session.execute(select(Crawl.pid, func.sum(Crawl.pages)).group_by(Crawl.pid)).all()
        )
        assert len(pages) == 2 and all(n > 0 for n in pages.values()), pages
        assert {w.pid for w in workers} == set(pages)
        files = session.scalars(select(WarcFile.path)).all()
        assert {p.rsplit("-", 1)[1].split(".")[0] for p in files} == {str(w.pid) for w in workers}
        # The store matches the truth: every ad once, one sighting, proven by its page.
        stored = set(
            session.execute(
                select(Platform.name, Ad.external_id).join(Platform, Platform.id == Ad.platform_id)
            ).all()
        )
        expected = {(a["platform"], str(a["external_id"])) for a in truth["ads"]
                    if a["platform"] in PLATFORMS}  # fmt: skip
        assert stored == expected
        assert session.scalar(select(func.count(Sighting.id))) == len(expected)
        # Every detail page captured exactly once.
        ad_urls = [a["url"] for a in truth["ads"] if a["platform"] in PLATFORMS]
        captured = Counter(
            session.scalars(
                select(Capture.url).where(Capture.kind == "response", Capture.url.in_(ad_urls))
            )
        )
        assert captured == Counter(ad_urls)
    factory.kw["bind"].dispose()
