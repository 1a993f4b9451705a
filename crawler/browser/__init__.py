"""Browser rendering for JavaScript platforms (scrapy-playwright + Chromium).

``launch`` finds Chromium and builds the settings, ``handler`` renders pages
and enforces limits, ``capture`` collects a page's traffic and screenshot,
``actions`` runs a definition's clicks and waits, ``guard`` applies the
allowed-host rule and the SSRF guard to the browser's own requests. The WARC
side is ``crawler.archive.browser``.
"""
