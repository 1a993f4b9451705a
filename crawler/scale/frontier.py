"""The shared frontier in Redis: seed it, look at it, clear it.

Keys (``prefix`` defaults to ``adarchive``; give each deployment or test its own):

* ``<prefix>:<platform>:start_urls`` — JSON seeds, a list (``frontier seed``);
* ``<prefix>:<platform>:requests`` — the shared request queue (scrapy-redis, a sorted set);
* ``<prefix>:<platform>:dupefilter`` — fingerprints of every request queued (a set);
* ``<prefix>:<platform>:workers`` — workers' last activity (the worker extension);
* ``<prefix>:limit:<site>:next|leases`` — the politeness limiter's state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from crawler.scale.worker_extension import BUSY_WINDOW_SECONDS, workers_key
from crawler.scale.worker_settings import ScaleError, dupefilter_key, queue_key, seeds_key


def connect(url: str) -> Any:
    """A Redis client that has answered a PING, or a one-line ScaleError."""
    import redis

    try:
        server = redis.Redis.from_url(url, socket_connect_timeout=5)
        server.ping()
    except (redis.RedisError, ValueError) as exc:
        raise ScaleError(f"cannot reach Redis at {url}: {exc}".splitlines()[0]) from None
    return server


def platform_keys(prefix: str, platform: str) -> dict[str, str]:
    return {
        "seeds": seeds_key(prefix) % {"name": platform},
        "requests": queue_key(prefix) % {"spider": platform},
        "dupefilter": dupefilter_key(prefix) % {"spider": platform},
        "workers": workers_key(prefix, platform),
    }


def seed(
    server: Any,
    prefix: str,
    platform: str,
    urls: Iterable[str],
    role: str = "listing",
    keep_seen: bool = False,
) -> int:
    """Push JSON seeds; when the frontier is empty this starts a new round.

    A new round forgets which requests were seen (the duplicate filter), or a
    recrawl would find every page already seen. ``keep_seen`` adds seeds to a
    round in progress instead.
    """
    keys = platform_keys(prefix, platform)
    seeds = [json.dumps({"url": url, "role": role}) for url in urls]
    if not seeds:
        return 0
    idle = server.zcard(keys["requests"]) == 0 and server.llen(keys["seeds"]) == 0
    with server.pipeline() as pipe:
        if idle and not keep_seen:
            pipe.delete(keys["dupefilter"])
        pipe.rpush(keys["seeds"], *seeds)
        pipe.execute()
    return len(seeds)


def status(server: Any, prefix: str, platform: str) -> dict[str, Any]:
    keys = platform_keys(prefix, platform)
    recent = time.time() - BUSY_WINDOW_SECONDS
    return {
        "platform": platform,
        "seeds": server.llen(keys["seeds"]),
        "queued": server.zcard(keys["requests"]),
        "seen": server.scard(keys["dupefilter"]),
        "workers_busy": server.zcount(keys["workers"], recent, "+inf"),
    }


def clear(server: Any, prefix: str, platform: str | None = None) -> int:
    """Delete a platform's frontier (or, with no platform, every key under the prefix)."""
    if platform is not None:
        return int(server.delete(*platform_keys(prefix, platform).values()))
    keys = list(server.scan_iter(match=f"{prefix}:*", count=500))
    return int(server.delete(*keys)) if keys else 0
