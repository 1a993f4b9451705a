"""Polite Scrapy defaults: the one home of adarchive's settings.

Every setting the project reads is defined here with a comment saying what it
does and why its default is what it is. Override per run with ``-s NAME=VALUE``
(``adarchive crawl`` and ``scrapy crawl`` both accept it) or per platform in a
definition's future ``[settings]`` table.
"""

from __future__ import annotations

BOT_NAME = "adarchive"

# Spiders come from the declarative definitions in spiders/definitions/*.toml
# (plus any code spider in the `spiders` package): the loader turns each
# definition into a spider class, so `scrapy crawl <platform>` works.
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
SPIDER_LOADER_CLASS = "crawler.spiderloader.DefinitionSpiderLoader"

# --- Identity -------------------------------------------------------------

# Who runs this crawl, written into the User-Agent and every warcinfo record,
# so a site operator can reach a human. Set it to your unit's contact.
ADARCHIVE_OPERATOR_CONTACT = "adarchive-operator@example.org"

# The User-Agent. None means the honest default, built at run time by
# crawler.useragent from the project version and ADARCHIVE_OPERATOR_CONTACT
# (so changing the contact with -s changes the agent too). Scrapy's own
# USER_AGENT setting is not used.
ADARCHIVE_USER_AGENT = None

# --- Politeness -----------------------------------------------------------

# robots.txt is obeyed. Overriding it needs an explicit flag and a stated
# authority (a later issue records it in WARC and custody log).
ROBOTSTXT_OBEY = True

# Scrapy ignores robots.txt Crawl-delay; our middleware applies it to the
# site's download slot (never lowering our own DOWNLOAD_DELAY).
ADARCHIVE_ROBOTS_CRAWL_DELAY = True
# An upper bound on a Crawl-delay we accept, so a hostile robots.txt cannot
# stall a crawl for hours per page (seconds).
ADARCHIVE_ROBOTS_CRAWL_DELAY_MAX = 60.0

# One request at a time per site, and a pause between them: platforms are
# small businesses' servers, not CDNs.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 2.0
# Vary each pause by ±50% so the crawl does not beat a fixed rhythm.
DOWNLOAD_DELAY_JITTER = 0.5

# AutoThrottle backs off further when the site slows down.
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Retry transient failures a few times, honouring the slot delay.
RETRY_ENABLED = True
RETRY_TIMES = 2

# --- Limits (hostile input) -----------------------------------------------

# Bodies larger than this are dropped (and logged), smaller warnings at half.
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
DOWNLOAD_TIMEOUT = 60

# Only content-codings that archive tools (warcio, pywb) can decode; Scrapy
# 2.19 would also advertise zstd, which warcio cannot read.
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "Accept-Encoding": "gzip, deflate, br",
}

# --- Components -----------------------------------------------------------

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": None,
    "crawler.useragent.HonestUserAgentMiddleware": 500,
    "crawler.robots_delay.RobotsCrawlDelayMiddleware": 101,
    "crawler.archive.middleware.ArchiveMiddleware": 950,
}

ITEM_PIPELINES = {
    "pipelines.contacts.ContactsPipeline": 300,
    "pipelines.store.StorePipeline": 800,
    "pipelines.images.ImagesPipeline": 850,
}

# Items are exported by the store; the feed exporter is not used by default.
FEED_EXPORT_ENCODING = "utf-8"
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

# --- Store ----------------------------------------------------------------

# SQLAlchemy URL of the store. None means `<ADARCHIVE_DATA_DIR>/adarchive.db`
# (SQLite). The environment variable ADARCHIVE_DB overrides this default.
ADARCHIVE_DB = None

# Root of everything a crawl writes (store, WARC files). WARC paths are stored
# relative to it so an archive can move.
ADARCHIVE_DATA_DIR = "adarchive-data"

# Commit the store after this many captures/items (and at the end). 0 = auto:
# 200 on SQLite (one writer; batches are much faster), 1 on PostgreSQL (many
# writers; short transactions never deadlock). WARC files are fsynced before
# each commit, so no capture row points at bytes not on disk.
ADARCHIVE_STORE_COMMIT_EVERY = 0

# --- Extraction -----------------------------------------------------------

# Run contact-identifier extraction on every ad (pipelines.contacts).
ADARCHIVE_CONTACTS_ENABLED = True

# --- Crawl budget ---------------------------------------------------------

# Stop after this many responses (0 = no limit). `adarchive crawl --max-pages`.
CLOSESPIDER_PAGECOUNT = 0

# --- WARC archive ---------------------------------------------------------
# (crawler.archive; the middleware is registered at 950 in DOWNLOADER_MIDDLEWARES)

# Archive every response as received (response + request + metadata records,
# SHA-256 digests, a capture row each). Evidence is the point of the crawler,
# so it is on; the benchmark turns it off to measure bare Scrapy.
ADARCHIVE_WARC_ENABLED = True

# Where WARC files are written. None means `<ADARCHIVE_DATA_DIR>/warc`, so the
# files move together with the store (their paths are stored relative to it).
ADARCHIVE_WARC_DIR = None

# A file is closed (fsynced, hashed, renamed from *.open) and a new one begun
# once it reaches this many bytes. 1 GB is the customary WARC size: small
# enough to copy and verify, large enough not to scatter a crawl.
ADARCHIVE_WARC_MAX_SIZE = 1_000_000_000

# File names are `{prefix}-{YYYYMMDDhhmmssfff}-{serial:05}-{host}-{pid}.warc.gz`;
# change the prefix to tell a unit's or a case's archives apart.
ADARCHIVE_WARC_PREFIX = "adarchive"
