"""Politeness and limits beyond Scrapy's defaults, for a hostile web.

``backoff`` (429/503 with Retry-After, pause, give up), ``limits`` (total time
per response, size, decompression bombs), ``budget`` (per-platform pages,
depth, duration, hosts, query variants, proxy), ``traps`` (redirect loops),
``robots`` (Scrapy's robots.txt middleware, fixed for concurrent first
requests), ``policy`` (robots override authority, User-Agent reason),
``refusals`` (what was refused and why), ``commands`` (CLI pieces).
"""
