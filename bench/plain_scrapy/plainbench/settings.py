"""Scrapy's defaults, polite the same way adarchive is: robots.txt obeyed.

Concurrency, per-site concurrency and delay come from the benchmark's ``-s``
flags, identical on both sides.
"""

BOT_NAME = "plainbench"
SPIDER_MODULES = ["plainbench.spiders"]
ROBOTSTXT_OBEY = True
USER_AGENT = "plainbench (+benchmark peer; contact: bench@example.org)"
LOG_LEVEL = "WARNING"
TELNETCONSOLE_ENABLED = False
