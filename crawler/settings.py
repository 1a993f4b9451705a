"""Polite Scrapy defaults: the one home of adarchive's settings.

Every setting the project reads is defined here, once, as a module-level
constant with a comment above it saying what it does and why its default is
what it is (annotate it when the default is None and the type is not text).
No other module carries a default: crawler.configuration reads these
definitions and fills the values, in rising precedence, from these defaults,
the configuration file (``adarchive.toml``), the environment (the same
``ADARCHIVE_*`` name) and ``-s NAME=VALUE``; see docs/configuration.md.
tests/test_config_defined.py fails on a setting read but not defined here.
"""

from __future__ import annotations

BOT_NAME = "adarchive"

# Spiders come from the declarative definitions in spiders/definitions/*.toml
# (plus any code spider in the `spiders` package): the loader turns each
# definition into a spider class, so `scrapy crawl <platform>` works.
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
SPIDER_LOADER_CLASS = "crawler.spiderloader.DefinitionSpiderLoader"

# --- Configuration ----------------------------------------------------------

# The configuration file (TOML, one `NAME = value` per setting). None: the
# `--config` option, else this variable in the environment, else
# ./adarchive.toml, else adarchive.toml in the user's configuration directory
# (~/.config/adarchive/ on Linux); a missing default file is not an error.
ADARCHIVE_CONFIG = None

# The environment and configuration-file layers, and the checks on every
# value, for `scrapy crawl` and Scrapyd jobs too (crawler.configuration).
ADDONS = {"crawler.configuration.ConfigAddon": 0}

# --- Identity -------------------------------------------------------------

# Who runs this crawl, written into the User-Agent and every warcinfo record,
# so a site operator can reach a human. Set it to your unit's contact.
ADARCHIVE_OPERATOR_CONTACT = "adarchive-operator@example.org"
# The person (and their unit) answerable for this installation's actions: every
# custody event's actor is "NAME, UNIT [OS user user@host]". Read from the
# environment by every command (custody events are written outside Scrapy too);
# unset, events say "operator not configured" rather than only root@host. A court
# exhibit prints them as its examiner (`adarchive exhibit --examiner/--unit` override).
ADARCHIVE_OPERATOR_NAME = None
ADARCHIVE_OPERATOR_UNIT = None
# Trust anchors for `adarchive verify` and `custody verify`: a trusted-signers
# file (`adarchive keys trust`) and TSA root certificates (a PEM file, or
# SHA-256 fingerprints separated by commas). None: only what the command is given.
ADARCHIVE_TRUSTED_SIGNERS = None
ADARCHIVE_TRUSTED_TSAS = None

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
# Scrapy's downloader sends more than one request at a time to a site when the
# crawl runs late (crawler/politeness/downloader.py); this one keeps the limit.
DOWNLOADER = "crawler.politeness.downloader.PoliteDownloader"
# Scrapy starts this many tasks for *every* callback's output, however little
# it yields (2.19: scrapy.utils.asyncio._parallel_asyncio). Our callbacks yield
# one advert or a page of links, and the default of 100 cost a sixth of a
# crawl's CPU on the fixture web; 16 cost nothing measurable in throughput.
CONCURRENT_ITEMS = 16
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
    "crawler.archive.archive_middleware.ArchiveMiddleware": 950,
}

ITEM_PIPELINES = {
    "pipelines.contacts.ContactsPipeline": 300,
    "pipelines.store.StorePipeline": 800,
    "pipelines.images.ImagesPipeline": 850,
}

# Items are exported by the store; the feed exporter is not used by default.
FEED_EXPORT_ENCODING = "utf-8"
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote control runs Python code sent to a localhost HTTP server
# and writes its token to ~/.local/state/scrapy: no code-execution port during a
# crawl of hostile sites, and nothing written outside the data directory.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"

# --- Store ----------------------------------------------------------------

# SQLAlchemy URL of the store. None means `<ADARCHIVE_DATA_DIR>/adarchive.db`
# (SQLite). The environment variable ADARCHIVE_DB overrides this default.
ADARCHIVE_DB = None

# Root of everything a crawl writes (store, WARC files). WARC paths are stored
# relative to it so an archive can move.
ADARCHIVE_DATA_DIR = "adarchive-data"

# A folder where a new SQLite store is made by copying an empty store the same migrations
# made once (one file per set of migrations, named by their digest), instead of migrating
# it in place (about 0.3 s of CPU). None: every new store is migrated in place, so each
# store's schema comes from the migrations themselves. For runs that make many short-lived
# stores: the test suite sets it.
ADARCHIVE_STORE_TEMPLATES = None

# Commit the store after this many captures/items (and at the end). 0 = auto:
# 200 on SQLite (one writer; batches are much faster), 1 on PostgreSQL (many
# writers; short transactions never deadlock). WARC files are fsynced before
# each commit, so no capture row points at bytes not on disk.
ADARCHIVE_STORE_COMMIT_EVERY = 0

# Store adverts, sightings and identifiers (pipelines.store). Off only to
# measure a crawl without its store (the benchmark).
ADARCHIVE_STORE_ENABLED = True

# --- Extraction -----------------------------------------------------------

# Run contact-identifier extraction on every ad (pipelines.contacts).
ADARCHIVE_CONTACTS_ENABLED = True
# Helper processes for extraction (0 = in the crawl's own thread). One helper
# puts a second core to use: extraction costs about as much CPU per advert as
# fetching and parsing it. Helpers are plain child processes fed through pipes
# by the event loop (crawler/extract/helper_process.py); if one dies, its adverts are
# read in the crawl's thread instead.
ADARCHIVE_CONTACTS_WORKERS = 1

# --- Images (pipelines/images.py) -------------------------------------------

# Fetch, archive and hash each advert's images.
ADARCHIVE_IMAGES_ENABLED = True
# Images kept per advert: the first this many distinct URLs are stored as
# ad_image rows and fetched; the rest are counted (adarchive/images/over_cap).
# A hostile page can list 50,000 <img>; 10 covers a real advert's gallery.
ADARCHIVE_IMAGES_MAX_PER_AD = 10
# Largest image body fetched (bytes).
ADARCHIVE_IMAGES_MAXSIZE = 10 * 1024 * 1024
# Image downloads in flight per site at most (issue 21): images share the
# site's download slots with its pages, and a gallery of ten per advert must
# not hold them all; half of Scrapy's default 8 per domain keeps pages flowing.
ADARCHIVE_IMAGES_CONCURRENCY_PER_SITE = 4

# A file of the agency's known image hashes (SHA-256 or pHash, one a line);
# a match is flagged on the image row. None: no list.
ADARCHIVE_KNOWN_HASHES = None
# Greatest pHash Hamming distance that still counts as a known image.
ADARCHIVE_KNOWN_PHASH_DISTANCE = 6

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

# --- Custody and time-stamping (crawler/evidence) ---------------------------

# Who acts, in custody events. None: user@host of the process.
ADARCHIVE_ACTOR = None

# RFC 3161 time-stamping authority: each closed WARC file's SHA-256 is
# time-stamped there. None: no time-stamps.
ADARCHIVE_TSA_URL = None
# With a TSA set, a WARC file is also closed and time-stamped at most this many
# minutes after its oldest capture (a little before, to leave time for the
# TSA's answer), on a timer, even when the crawl is idle: every capture's time
# is then bounded by a token within this many minutes. Fractions are allowed.
ADARCHIVE_WARC_MAX_AGE_MINUTES = 15.0
# A PEM file with the TSA's certificate chain, for authorities whose tokens
# carry only the signing certificate. None: the token's own certificates.
ADARCHIVE_TSA_CERTS = None

# The workbench's audit chain head is written into the custody chain (and
# time-stamped with it) at every crawl end, every export, the workbench's start
# and stop, and every this many seconds while it serves and someone used it.
# An hour bounds how much audit history could be rewritten unseen. 0: only at
# those moments, never periodically.
ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL = 3600.0
# The cost of the argon2id hash of workbench passwords: passes over memory, KiB
# of memory, and lanes (crawler/workbench/accounts.py). The defaults are
# argon2-cffi's, RFC 9106's low-memory choice (t=3, 64 MiB, 4 lanes): about a
# quarter of a second of CPU per log-in, which is what makes guessing slow.
# Lower them only for tests (the test suite does); a stored hash made with
# other costs still verifies and is rehashed at its next log-in.
ADARCHIVE_WORKBENCH_PASSWORD_TIME_COST = 3
ADARCHIVE_WORKBENCH_PASSWORD_MEMORY_KIB = 65536
ADARCHIVE_WORKBENCH_PASSWORD_PARALLELISM = 4

# Passphrase of an encrypted bundle-signing key (`export --sign KEY`). A
# secret: `adarchive settings` masks it; prefer the environment to the file.
ADARCHIVE_KEY_PASSPHRASE = None

# --- Platform definitions ---------------------------------------------------

# Directory of platform definitions (*.toml). None: spiders/definitions.
ADARCHIVE_DEFINITIONS_DIR = None

# --- Progress and revisits (crawler/schedule, crawler/archive/revisit.py) ----

# Every few seconds a running crawl's counts (pages, ads, errors, backlog) go
# into the store's crawl_progress table, for `adarchive status`; on a terminal
# a progress bar is drawn on stderr. 0 turns the extension off.
EXTENSIONS = {"crawler.schedule.progress.ProgressExtension": 500}
ADARCHIVE_PROGRESS_INTERVAL = 5.0
ADARCHIVE_PROGRESS_BAR = True

# A response whose payload (body as received) is identical to an earlier
# capture of the same URL is written as a WARC `revisit` record (profile
# identical-payload-digest, WARC-Refers-To-*) instead of a second copy, so
# recrawls every few hours do not fill disks with unchanged pages.
ADARCHIVE_WARC_REVISITS = True

# The evidence sink (crawler/sink/): True hands evidence to the evidence writer
# process (crawler/sink/writer_process.py), which writes WARC records, capture
# rows and the store on another core while the crawl's thread fetches and
# parses. Same files, rows and custody log; browser-rendered platforms archive
# in the crawl's process regardless. False writes everything in the crawl's
# own thread (crawler/sink/in_process.py).
ADARCHIVE_EVIDENCE_PROCESS = True

# Fork the evidence writer from the crawl's process just before Scrapy starts
# (crawler/sink/writer_fork.py), while that is safe (one thread, no child process,
# no connection open): it starts in milliseconds instead of importing for 0.7 s of
# CPU. False, or where a fork is not safe, starts it as a new interpreter
# (`python -m crawler.sink.evidence_writer`).
ADARCHIVE_EVIDENCE_WRITER_FORK = True

# Bytes of messages the crawl may hold for the evidence writer when its pipe is
# full. Above it the engine is paused (no new downloads) until the queue is
# half drained: a slow writer slows the crawl, nothing is dropped, and the
# reactor never blocks on the pipe. 2 MiB (twice the pipe) keeps the crawl's
# use of pages at most a few MiB ahead of their archiving, so a hard exit
# (second stop signal) loses little that was already used.
ADARCHIVE_EVIDENCE_QUEUE_MAX = 2 * 1024 * 1024

# Size asked for the pipe to the evidence writer (Linux caps it at
# /proc/sys/fs/pipe-max-size; refused sizes keep the 64 KiB default). Tests
# make it small to exercise the back-pressure.
ADARCHIVE_EVIDENCE_PIPE_SIZE = 1024 * 1024

# Test hook: seconds the evidence writer sleeps per message, to make it slower
# than the crawl. 0 in any real crawl.
ADARCHIVE_EVIDENCE_WRITER_DELAY = 0.0

# --- hostile web ------------------------------------------------------------
# (issue 7: crawler.guard, crawler.politeness, crawler.shutdown, crawler.resume)

# SSRF guard: requests (every redirect hop included) to loopback, private,
# link-local, unspecified, multicast or reserved addresses are refused, and
# names are resolved by us to check what they point at. On by default: ad
# pages are written by adversaries.
ADARCHIVE_SSRF_GUARD_ENABLED = True
# Non-public addresses that may be fetched anyway: comma-separated addresses,
# CIDR networks or first-last ranges. Empty by default. The fixture web's
# tests and demo set "127.0.0.10-127.0.0.99" (its platforms live there), so
# 127.0.0.1 and localhost stay refused even then.
ADARCHIVE_ALLOWED_ADDRESSES = ""
# The resolver used for connections re-checks the address actually connected
# to (a name may answer differently the second time).
TWISTED_DNS_RESOLVER = "crawler.guard.resolver.GuardedResolver"

# Robots.txt override and User-Agent policy (set by `adarchive crawl
# --ignore-robots --authority TEXT` and `--user-agent UA --user-agent-reason
# TEXT`). A crawl refuses to start with ROBOTSTXT_OBEY=False and no authority,
# or a non-default agent and no reason. Both go into warcinfo, the crawl's
# settings and the custody log.
ADARCHIVE_ROBOTS_AUTHORITY = None
ADARCHIVE_USER_AGENT_REASON = None

# 429 / 503 handling: the site is paused for max(Retry-After, base * 2^(n-1))
# seconds after its n-th refusal in a row, capped at ADARCHIVE_BACKOFF_MAX;
# each request is retried at most ADARCHIVE_BACKOFF_MAX_RETRIES times; after
# ADARCHIVE_BACKOFF_MAX_REFUSALS refusals in a row, or a Retry-After longer
# than ADARCHIVE_BACKOFF_MAX_RETRY_AFTER, the site is given up for this
# crawl (its remaining requests are refused, not sent).
ADARCHIVE_BACKOFF_ENABLED = True
ADARCHIVE_BACKOFF_BASE = 2.0
ADARCHIVE_BACKOFF_MAX = 300.0
ADARCHIVE_BACKOFF_MAX_RETRIES = 3
ADARCHIVE_BACKOFF_MAX_REFUSALS = 6
ADARCHIVE_BACKOFF_MAX_RETRY_AFTER = 3600.0
# 429 and 503 are handled by the backoff middleware, not by Scrapy's retry.
RETRY_HTTP_CODES = [500, 502, 504, 522, 524, 408]

# Total time one response may take, however slowly its bytes arrive (Scrapy's
# download timeout covers the whole download); a response that hits it is
# retried once, then refused. Bodies over DOWNLOAD_MAXSIZE, and compressed
# bodies that inflate past it (bombs), are refused and counted.
ADARCHIVE_RESPONSE_TIME_LIMIT = 60.0

# Budgets, so every crawl ends by itself. Flat defaults (0 = none; the page
# budget is CLOSESPIDER_PAGECOUNT, `--max-pages`), overridden per crawl with -s
# or the crawl flags, and per platform by
# ADARCHIVE_BUDGETS = {"<platform>" or "*": {"max_pages", "max_depth",
# "max_seconds", "allowed_hosts", "proxy", "max_query_variants",
# "max_listing_pages"}} (a dict, or JSON with -s). The budget is written into
# warcinfo; every request a budget stops is a refusal with its reason.
#
# The trap budgets are on by default, so a platform that offers endless pages
# (a `next` link with a fresh session id, calendars, sort orders) stops by
# itself. 500 listing pages of 20-50 adverts each is 10,000-25,000 adverts per
# crawl, more than a recurring crawl of one board needs; raise them per
# platform for a first full crawl of a large one.
# Links followed from a start URL at most (`--max-depth`). A detail page sits
# one below its listing page, so this stays above the listing-page budget.
ADARCHIVE_MAX_DEPTH = 600
ADARCHIVE_MAX_SECONDS = 0.0
# Distinct query strings fetched per host and path (`/list?sid=…` traps).
# Detail pages and images are not counted: their query string is their
# identity (`viewad.php?id=N`). Pagination by `?page=N` fits under it.
ADARCHIVE_MAX_QUERY_VARIANTS = 500
# Listing pages requested per crawl (`--max-listing-pages`); redirect hops and
# retries are not counted again.
ADARCHIVE_MAX_LISTING_PAGES = 500
ADARCHIVE_PROXY = None
ADARCHIVE_BUDGETS: dict = {}

# SIGTERM / Ctrl-C: close spiders, abandon downloads still running after the
# grace period (seconds), force-close files and exit after the timeout; a
# second signal exits at once.
ADARCHIVE_SHUTDOWN_GRACE = 2.0
ADARCHIVE_SHUTDOWN_TIMEOUT = 8.0

# `adarchive crawl --resume`: answer URLs already captured by the platform's
# interrupted crawls from the archive instead of fetching them again.
ADARCHIVE_RESUME = False

# Only http and https ever leave the crawler (crawler/guard/scheme.py): Scrapy's
# file, ftp, s3 and data handlers are off, so an advert's `<img src="file:///…">`
# or `ftp://127.0.0.1:21/` is never read or connected to, whatever made the
# request; the scheme middleware refuses it first, counted as
# `adarchive/refused/scheme/<scheme>`. Not a switch: nothing else is fetched.
DOWNLOAD_HANDLERS = {"file": None, "ftp": None, "s3": None, "data": None}

DOWNLOADER_MIDDLEWARES.update(
    {
        "crawler.guard.scheme.SchemePolicyMiddleware": 20,
        "crawler.guard.ssrf_middleware.SsrfGuardMiddleware": 30,
        "crawler.politeness.budget.BudgetMiddleware": 40,
        "crawler.resume.ResumeMiddleware": 45,
        "crawler.politeness.backoff.BackoffMiddleware": 560,
        "crawler.politeness.limits.ResponseLimitsMiddleware": 570,
        "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
        "crawler.politeness.limits.CountingHttpCompressionMiddleware": 590,
        "crawler.politeness.traps.RedirectLoopMiddleware": 610,
        # Scrapy 2.19's robots middleware lets concurrent first requests through
        # unchecked (see crawler/politeness/robots.py): replaced by a fixed subclass.
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
        "crawler.politeness.robots.SharedWaitRobotsTxtMiddleware": 100,
    }
)
EXTENSIONS.update(
    {
        "crawler.shutdown.ShutdownExtension": 0,
        "crawler.politeness.policy.PolicyExtension": 10,
        "crawler.politeness.refusals.RefusalReport": 510,
    }
)

# --- Browser rendering (issue 6: crawler/browser, crawler/archive/browser.py) ---
# Platforms whose definition says `render = "browser"` are rendered in headless
# Chromium through scrapy-playwright; static platforms never start a browser.
# Each rendered page is archived as the browser's own traffic (document,
# scripts, XHR/fetch JSON: response + request records), a full-page PNG
# (`urn:screenshot:<url>`) and the rendered DOM (`urn:dom:<url>`).

# The Chromium to launch. None: Debian's /usr/bin/chromium when present, else
# Playwright's own download (`playwright install chromium`); with neither, the
# crawl stops before it starts with one line naming the fix.
ADARCHIVE_BROWSER_EXECUTABLE = None

# Extra Chromium flags: a list, or a JSON list with -s (flags contain commas).
# Empty in production; the tests and the demo add `--host-resolver-rules=MAP *
# ~NOTFOUND , EXCLUDE 127.*` so Chromium's own background look-ups stay off the
# network. A `--disable-features=...` here is merged with Playwright's own list and
# ours (crawler/browser/features.py): Chromium keeps only the last such flag.
ADARCHIVE_BROWSER_ARGS: list[str] = []

# Pages of one platform open at once (one browser context per platform). The
# site's download slot (CONCURRENT_REQUESTS_PER_DOMAIN, 1 by default) still
# applies, so politeness is unchanged; raise both to render faster.
ADARCHIVE_BROWSER_MAX_PAGES = 2

# Seconds for a page's navigation, each action, the screenshot and reading
# response bodies. A page that exceeds it fails and is retried (RETRY_TIMES).
ADARCHIVE_BROWSER_PAGE_TIMEOUT = 30.0

# Restart the browser after this many pages (0 = never): long-lived browsers
# grow, and a fresh one also drops state a hostile page may have left behind.
ADARCHIVE_BROWSER_RESTART_AFTER = 200

# Take a full-page PNG screenshot of every rendered page (the page as a person
# saw it). The benchmark turns it off to measure its cost.
ADARCHIVE_BROWSER_SCREENSHOT = True

# Screenshots stop at this height (px), so an endless page cannot exhaust memory;
# the metadata record says when a screenshot was cut.
ADARCHIVE_BROWSER_SCREENSHOT_MAX_HEIGHT = 20000

# Network responses archived per page at most (a hostile page can make
# thousands); the rest are listed as not archived in the page's metadata record.
ADARCHIVE_BROWSER_MAX_RESPONSES = 300

# Response bodies kept per page in all (bytes; each one is also capped at
# DOWNLOAD_MAXSIZE). Past it, responses are archived head-only and the page's
# metadata record says so: memory stays bounded on a hostile page.
ADARCHIVE_BROWSER_MAX_PAGE_BYTES = 64 * 1024 * 1024

# The browser's only way out (issue 14): a forward proxy on loopback per
# platform context (crawler/browser/proxy.py) that resolves each name once,
# refuses non-public addresses, hosts outside allowed_hosts and ports the
# platform does not use on every connection (each redirect hop included),
# caps what it relays (plain HTTP also by inflated size), and lists each
# refusal in the page's metadata record. Chromium resolves nothing itself and
# sends no UDP outside it. False leaves only the page.route guard, which
# popups, workers, WebRTC, prefetch and redirect hops side-step: for tests only.
ADARCHIVE_BROWSER_PROXY_ENABLED = True
# Fixed answers the proxy gives for some names instead of asking the system
# resolver: {"name": ["address", ...]}; a list is cycled, one per look-up
# (tests use it to play a rebinding name). Empty by default.
ADARCHIVE_BROWSER_PROXY_HOSTS: dict[str, list[str]] = {}
# Memory ceiling (bytes of PSS, from /proc/*/smaps_rollup) for the crawl's
# whole process tree, read 20 times a second by a watchdog thread while a
# browser runs. Below it (a margin for growth) the thread kills the browser,
# the pages open then fail with the reason (refused as browser-memory, not
# retried), a fresh browser takes the next page; the crawl goes on. 0 = no watchdog.
ADARCHIVE_BROWSER_MEMORY_CEILING = 1536 * 1024 * 1024

# --- Garbage collector (crawler/gctune.py) ------------------------------------

# Once the engine has started, freeze the start-up heap out of the garbage
# collector's reach and collect short-lived garbage every this many allocations
# (CPython's default is 700). 0 leaves the collector alone.
EXTENSIONS["crawler.gctune.GcTuneExtension"] = 0
ADARCHIVE_GC_THRESHOLD = 10_000
# And every this many responses (of the whole crawl process) run a full
# collection: cyclic garbage holding memory the collector does not count (lxml
# trees) otherwise piles up between CPython's rare full collections, and the
# process grows with the crawl (issue 21). About 10-20 ms each. 0 = never.
ADARCHIVE_GC_COLLECT_EVERY = 200

# --- Memory diagnosis (issue 21: crawler/memtrace.py) --------------------------

# Opt-in: comma-separated response counts ("2000,6000") at which the crawl
# process takes a tracemalloc snapshot; each later one is compared with the
# first and written to ADARCHIVE_DATA_DIR (tracemalloc-<a>-<b>.txt, grouped by
# traceback and by file, and tracemalloc.json). Tracing slows the crawl; empty = off.
EXTENSIONS["crawler.memtrace.TracemallocExtension"] = 0
ADARCHIVE_TRACEMALLOC_SNAPSHOTS = ""

# Scrapy's duplicate filter, keeping a 16-byte digest of each request's
# fingerprint in flat arrays instead of a bytes object in a set (crawler/dupefilter.py):
# the same requests filtered, the same JOBDIR file, about a third of the memory.
DUPEFILTER_CLASS = "crawler.dupefilter.CompactDupeFilter"

# --- Alerts and drift (issue 17: crawler/alerts.py, crawler/schedule/drift.py) ---

# Where alerts go: watch hits, crawls ending in one of ADARCHIVE_ALERT_STATES,
# drifting scheduled runs, failed scheduled runs. None/empty: not sent.
# The webhook gets a JSON POST ({"schema": "adarchive-alert/1", "kind", ...}),
# retried this many times (1 s, 2 s, 4 s ...) on connection errors, 429, 5xx.
ADARCHIVE_ALERT_WEBHOOK = None
ADARCHIVE_ALERT_WEBHOOK_RETRIES = 3
# E-mail through an SMTP server "host:port" to these comma-separated addresses.
ADARCHIVE_ALERT_SMTP = None
ADARCHIVE_ALERT_EMAIL_TO = ""
ADARCHIVE_ALERT_EMAIL_FROM = "adarchive@localhost"
ADARCHIVE_ALERT_SMTP_USER = None
ADARCHIVE_ALERT_SMTP_PASSWORD = None
ADARCHIVE_ALERT_SMTP_STARTTLS = False
# Finish states that send an alert (crawler/health.py); "finished" never does.
ADARCHIVE_ALERT_STATES = "degraded,empty,refused,failed"

# A scheduled run is compared with the platform's last ADARCHIVE_DRIFT_RUNS
# runs (median) once at least ADARCHIVE_DRIFT_MIN_RUNS exist: adverts per
# listing page or identifiers per advert falling or rising by the factor
# ADARCHIVE_DRIFT_RATIO, or the empty-field or new-advert rate moving by more
# than ADARCHIVE_DRIFT_RATE_CHANGE, mark the run as drifting. Three runs make a
# baseline that one odd run does not skew.
ADARCHIVE_DRIFT_RUNS = 5
ADARCHIVE_DRIFT_MIN_RUNS = 3
ADARCHIVE_DRIFT_RATIO = 2.0
ADARCHIVE_DRIFT_RATE_CHANGE = 0.4

# --- Scale-out (crawler/scale; `adarchive worker` sets the ADARCHIVE_SCALE_*) --

# Redis URL of the shared frontier, for `adarchive worker` and `frontier`
# when --redis is not given.
ADARCHIVE_REDIS = "redis://127.0.0.1:6379/0"
# Set by `adarchive worker`: the Redis of the shared frontier and limiter. None
# means this crawl is no worker (the worker extension and limiter stay off).
ADARCHIVE_SCALE_REDIS_URL = None
# Key prefix of this deployment in Redis (several can share one server).
ADARCHIVE_SCALE_PREFIX = "adarchive"
# Seconds between requests to one site across all workers. None: DOWNLOAD_DELAY.
ADARCHIVE_SCALE_DELAY: float | None = None
# Requests in flight to one site across all workers.
ADARCHIVE_SCALE_CONCURRENCY = 1
# A worker stops once every worker was idle this long (s); 0 waits for seeds.
ADARCHIVE_SCALE_IDLE_CLOSE = 10.0
# scrapy-redis's key of the seeds (its own default); the worker extension
# reads it to watch for new seeds. `adarchive worker` sets it per prefix.
REDIS_START_URLS_KEY = "%(name)s:start_urls"

# --- Workbench replay (issue 18: crawler/workbench/replay_origin.py) ---------

# Directory of ReplayWeb.page's static build (index.html, sw.js, ui.js) that the
# replay origin serves. None: the source checkout's .tools/replaywebpage, where
# `make tools` puts it; an installed package has none, so set this there.
ADARCHIVE_REPLAYWEBPAGE_DIR: str | None = None
# The replay origin listens here, apart from the workbench: another host name
# (not only another port, which shares cookies), so an archived page's scripts
# never reach the workbench's cookies or pages. 127.0.0.2 is loopback on Linux.
ADARCHIVE_WORKBENCH_REPLAY_HOST = "127.0.0.2"
ADARCHIVE_WORKBENCH_REPLAY_PORT = 8001
# The replay origin's address as browsers reach it, e.g. https://replay.unit.example
# behind an HTTPS reverse proxy. None: http://HOST:PORT (loopback only: browsers
# give ReplayWeb.page's service worker a plain-HTTP origin only on loopback).
ADARCHIVE_WORKBENCH_REPLAY_URL: str | None = None
# Key of the replay links' HMAC signatures. A secret: set it (32+ characters)
# only when several server processes must accept each other's links. None: a
# random key made at start, so links die with the server.
ADARCHIVE_WORKBENCH_REPLAY_SECRET: str | None = None
# Seconds a replay link (and the archive it reaches) stays valid.
ADARCHIVE_WORKBENCH_REPLAY_TTL = 600
# --- Workbench two-step log-in (crawler/workbench/totpseal.py) ----------------

# File of the key that seals the accounts' TOTP secrets in the store (AES-SIV),
# made with mode 0600 the first time a secret is stored. None: workbench-secret.key
# beside the SQLite store, or in ADARCHIVE_DATA_DIR for PostgreSQL. Keep it out of
# the store's backups; without it the secrets cannot be read (reset them).
ADARCHIVE_WORKBENCH_SECRET_KEY_FILE: str | None = None
# --- Workbench cases (crawler/workbench/caseexport.py) -------------------------

# P-384 private key (PEM) the workbench signs case bundles and exhibits with,
# as `export --sign KEY` and `exhibit --sign KEY` do (the exhibit's certificate
# is adarchive-signing-cert.pem beside it). None: bundles are exported
# unsigned, and the case page says so.
ADARCHIVE_WORKBENCH_SIGNING_KEY = None
# Folder the workbench writes case bundles and exhibits into; a relative path
# is under the data root (the store's folder), where the WARC files are.
ADARCHIVE_WORKBENCH_EXPORTS = "workbench-exports"
# Largest bundle (bytes) an evidence officer may upload to verify. The upload
# is streamed to a temporary file, never held in memory. 2 GiB.
ADARCHIVE_WORKBENCH_UPLOAD_MAX = 2147483648
# --- Workbench search (crawler/workbench/search.py, photosearch.py) -----------

# Search results (a page and its count) the server keeps while the search index
# is unchanged, so paging through a result or repeating a search costs no index
# query; emptied whenever the index takes in new or changed adverts. 0: off.
ADARCHIVE_WORKBENCH_SEARCH_CACHE = 256

# Processes serving the workbench (`adarchive serve --workers N`): forked
# workers sharing the port, so requests use every core (one Python process
# serves on one). Sessions, the login throttle and the audit chain live in the
# store, so the processes agree; each keeps its own result cache. 1: one
# process, as before (benchmarks: bench/workbench_search.py --workers N).
ADARCHIVE_WORKBENCH_WORKERS = 1

# Largest photo an investigator may upload to search by (bytes). The request is
# refused (413) as soon as it is known to be larger, before it is read; the
# upload is only ever held in memory or a temporary file, never stored.
ADARCHIVE_WORKBENCH_PHOTO_MAX_BYTES = 10 * 1024 * 1024
# Greatest pHash Hamming distance (bits of 64) at which a stored image counts
# as the uploaded photo. 6 is the analysis's own default for linking adverts by
# image (crawler/analysis/data/analysis.toml): re-encoded, resized or lightly
# cropped copies stay within it, unrelated photos almost never do.
ADARCHIVE_WORKBENCH_PHOTO_MAX_DISTANCE = 6
