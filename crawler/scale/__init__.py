"""Scale-out: several crawler processes share one frontier and one politeness budget.

* ``frontier`` — Redis keys, JSON seeds, status and reset of a shared frontier
  (scrapy-redis keeps the request queue and the duplicate filter there);
* ``worker_extension`` — the extension that keeps a worker alive while the shared
  frontier may still grow, and feeds it seeds;
* ``limiter`` — a per-site politeness limiter in Redis, so N workers never
  hit one site harder than one worker would;
* ``worker_settings`` — the Scrapy settings that turn a crawl into a worker.

See docs/operations.md, "Scale-out".
"""
